// The JNI overhead bench: ranks B = 1, 10, 200 candidates through the Kotlin SDK (JNI), the same batch natively
// inside libcamoe_jni.so (Rust API, no JNI crossing), and the same candidates through libcamoe.so's C ABI via JNA.
package dev.camoe

import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference

/** The C ABI functions the JNA path needs (include/camoe.h); size_t is a 64-bit Long here. */
@Suppress("FunctionName")
interface CAbi : Library {
    fun camoe_model_load_file(path: String, out: PointerByReference): Int
    fun camoe_session_new(model: Pointer, max: Long, out: PointerByReference): Int
    fun camoe_session_set_request(session: Pointer, features: Pointer, n: Long): Int
    fun camoe_session_rank(
        session: Pointer, candidates: Pointer, n: Long, options: Pointer?,
        scores: FloatArray, order: IntArray, orderCap: Long, orderLen: Pointer,
    ): Int
}

private const val FEATURE_BYTES = 40L // camoe_feature: text, text_len, id, field, kind, dense (+ padding)
private const val CANDIDATE_BYTES = 24L // camoe_candidate: features, n_features, task, bid

/** The sample's request and B candidates as C structs (categorical values as hashed ids, as the JNI batch). */
private class CBatch(model: Model, b: Int) {
    val request: Memory
    val requestCount: Long
    val candidates = Memory(CANDIDATE_BYTES * b)
    private val features = mutableListOf<Memory>()
    private val texts = mutableListOf<Memory>()

    init {
        val req = Sample.lines.first { it.kind == "request" }.pairs
        requestCount = req.size.toLong()
        request = Memory(FEATURE_BYTES * req.size)
        req.forEachIndexed { i, (k, v) -> write(model, request, i, k, v) }
        for (row in 0 until b) {
            val line = Sample.candidates[row % Sample.candidates.size]
            val pairs = line.pairs.filter { it.first != "task" && it.first != "bid" }
            val f = Memory(FEATURE_BYTES * pairs.size).also { features += it }
            pairs.forEachIndexed { i, (k, v) -> write(model, f, i, k, v) }
            val at = CANDIDATE_BYTES * row
            candidates.setPointer(at, f)
            candidates.setLong(at + 8, pairs.size.toLong())
            candidates.setInt(at + 16, model.taskIndex(line.value("task")!!))
            candidates.setFloat(at + 20, line.value("bid")!!.toFloat())
        }
    }

    private fun write(model: Model, m: Memory, i: Int, name: String, value: String) {
        val field = model.field(name)
        val at = FEATURE_BYTES * i
        m.setMemory(at, FEATURE_BYTES, 0)
        m.setInt(at + 24, field.index)
        if (field.kind == FieldKind.DENSE) {
            m.setInt(at + 28, 3)
            m.setFloat(at + 32, value.toFloat())
        } else if (field.side == Side.REQUEST) {
            val bytes = value.toByteArray()
            val text = Memory(bytes.size.toLong()).also { texts += it }
            text.write(0, bytes, 0, bytes.size)
            m.setPointer(at, text)
            m.setLong(at + 8, bytes.size.toLong())
            m.setInt(at + 28, 2)
        } else {
            m.setLong(at + 16, model.hash(value))
            m.setInt(at + 28, 1)
        }
    }
}

private fun timed(calls: Int, body: () -> Unit): Long {
    val t = System.nanoTime()
    repeat(calls) { body() }
    return System.nanoTime() - t
}

fun main(args: Array<String>) {
    val libcamoe = args.getOrNull(0) ?: error("usage: Bench LIBCAMOE_SO [ROUNDS]")
    val rounds = args.getOrNull(1)?.toInt() ?: 15
    val c = com.sun.jna.Native.load(libcamoe, CAbi::class.java)
    val model = Model.load(Sample.modelPath)
    val cModel = PointerByReference().also { check(c.camoe_model_load_file(Sample.modelPath, it) == 0) }.value
    println("| B | native (Rust API, in libcamoe_jni) | JNI (Kotlin SDK) | JNI overhead | JNA (C ABI) | JNA overhead |")
    println("|--:|--:|--:|--:|--:|--:|")
    for (b in intArrayOf(1, 10, 200)) {
        val calls = maxOf(200, 200_000 / b / 10)
        val batch = Sample.batch(model, b)
        val session = Session(model, b)
        session.setRequest(Sample.request(model))
        val scores = FloatArray(b)
        val order = IntArray(b)
        val cBatch = CBatch(model, b)
        val cSession = PointerByReference().also { check(c.camoe_session_new(cModel, b.toLong(), it) == 0) }.value
        check(c.camoe_session_set_request(cSession, cBatch.request, cBatch.requestCount) == 0)
        val orderLen = Memory(8)
        val jna = { check(c.camoe_session_rank(cSession, cBatch.candidates, b.toLong(), null, scores, order, b.toLong(), orderLen) == 0) }
        val jni: () -> Unit = { session.rank(batch, RankOptions.DEFAULT, scores, order) }
        // Warm-up (JIT, caches), then interleaved rounds so drift hits every path alike.
        repeat(3) { timed(calls, jni); session.rankCopiedAgain(calls); timed(calls, jna) }
        val jniNs = ArrayList<Long>()
        val nativeNs = ArrayList<Long>()
        val jnaNs = ArrayList<Long>()
        repeat(rounds) {
            jniNs += timed(calls, jni)
            nativeNs += session.rankCopiedAgain(calls)
            jnaNs += timed(calls, jna)
        }
        // The fastest round of each: the machine is shared, and noise only ever adds time.
        fun best(v: List<Long>) = v.minOrNull()!!.toDouble() / calls
        val (n, j, a) = Triple(best(nativeNs), best(jniNs), best(jnaNs))
        fun us(ns: Double) = "%.2f µs".format(ns / 1000)
        fun over(ns: Double) = "%s (%.1f %%)".format(us(ns - n), 100 * (ns - n) / n)
        println("| $b | ${us(n)} | ${us(j)} | ${over(j)} | ${us(a)} | ${over(a)} |")
        session.close()
    }
}
