// Test fixtures: the shipped model, the sample request as a Request and a CandidateBatch, and the Rust reference ranking.
package dev.camoe

import java.io.File

object Sample {
    private fun property(name: String): String =
        System.getProperty(name) ?: error("run with -D$name=... (sdk/kotlin/test.sh sets it)")

    val modelPath: String get() = property("camoe.model")
    private val requestPath: String get() = property("camoe.request")

    /** One line of the request file: `request` or `candidate`, and its `key=value` words. */
    class Line(val kind: String, val pairs: List<Pair<String, String>>) {
        fun value(key: String): String? = pairs.firstOrNull { it.first == key }?.second
    }

    val lines: List<Line> by lazy {
        File(requestPath).readLines().mapNotNull { raw ->
            val words = raw.substringBefore('#').trim().split(Regex("\\s+")).filter { it.isNotEmpty() }
            if (words.isEmpty()) null
            else Line(words[0], words.drop(1).map { it.substringBefore('=') to it.substringAfter('=') })
        }
    }
    val candidates: List<Line> get() = lines.filter { it.kind == "candidate" }

    /** The request line's features: text for categorical fields, floats for dense ones. */
    fun request(model: Model): Request {
        val request = Request()
        for ((k, v) in lines.first { it.kind == "request" }.pairs) {
            val field = model.field(k)
            if (field.kind == FieldKind.DENSE) request.dense(field.index, v.toFloat())
            else request.text(field.index, v)
        }
        return request
    }

    /** Candidate fields in the file's order (every candidate line names the same ones). */
    private fun candidateFields(model: Model): List<Field> =
        candidates[0].pairs.map { it.first }.filter { it != "task" && it != "bid" }.map { model.field(it) }

    /**
     * A batch of [n] candidates cycling through the sample's, with bids. Categorical fields
     * named in [asText] are text columns, the others id columns of [Model.hash]ed text;
     * fields in [skip] are left out.
     */
    fun batch(
        model: Model,
        n: Int = candidates.size,
        asText: Set<String> = emptySet(),
        capacity: Int = n,
        skip: Set<String> = emptySet(),
    ): CandidateBatch {
        val batch = CandidateBatch(capacity)
        val fields = candidateFields(model).filter { it.name !in skip }
        val columns = fields.map {
            when {
                it.kind == FieldKind.DENSE -> batch.denseColumn(it.index)
                it.name in asText -> batch.textColumn(it.index)
                else -> batch.idColumn(it.index)
            }
        }
        batch.size = n
        for (row in 0 until n) {
            val line = candidates[row % candidates.size]
            batch.setTask(row, model.taskIndex(line.value("task")!!))
            batch.setBid(row, line.value("bid")!!.toFloat())
            fields.forEachIndexed { c, field ->
                val v = line.value(field.name)!!
                when {
                    field.kind == FieldKind.DENSE -> batch.setDense(columns[c], row, v.toFloat())
                    field.name in asText -> batch.setText(columns[c], row, v)
                    else -> batch.setId(columns[c], row, model.hash(v))
                }
            }
        }
        return batch
    }

    fun textFieldNames(model: Model): Set<String> =
        candidateFields(model).filter { it.kind == FieldKind.CATEGORICAL }.map { it.name }.toSet()

    /** The Rust API's ranking (`rank-bits`): candidate index and `f32::to_bits` of its pCTR, best first. */
    val expected: List<Pair<Int, Int>> by lazy {
        File(property("camoe.expected")).readLines().filter { it.isNotBlank() }.map { line ->
            val w = line.trim().split(Regex("\\s+"))
            w[1].toInt() to java.lang.Long.decode(w.last()).toInt()
        }
    }

    /** `camoe-rank`'s header: `model NAME (Mode, N bytes, F fields, T tasks, E experts)`. */
    val rankHeader: String by lazy { File(property("camoe.rank.output")).readLines().first() }

    /** Ranks [batch] with a fresh session on [threads] threads; (index, score bits) best first. */
    fun rank(
        model: Model,
        batch: CandidateBatch,
        options: RankOptions = RankOptions.DEFAULT,
        threads: Int = 1,
    ): List<Pair<Int, Int>> =
        Session(model, batch.capacity, threads).use { s ->
            s.setRequest(request(model))
            val scores = FloatArray(batch.size)
            val order = IntArray(batch.size)
            val k = s.rank(batch, options, scores, order)
            (0 until k).map { order[it] to java.lang.Float.floatToRawIntBits(scores[order[it]]) }
        }
}
