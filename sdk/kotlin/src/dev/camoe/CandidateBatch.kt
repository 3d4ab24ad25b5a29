// A reusable batch of candidates held as primitive columns (no boxing), ranked by Session.rank.
package dev.camoe

/**
 * Up to [capacity] candidates as columns: one task (and optionally one bid) per candidate,
 * and one column per candidate field: 64-bit ids, UTF-8 text, or floats, each with
 * optional missing flags. Set up the columns once, then per ranking: [clear], fill rows
 * `0 until size`, rank. Filling and ranking allocate nothing (text grows its buffer only
 * when longer text than ever before arrives; [Model.hash] turns text into ids once).
 *
 * Rows of a text column are appended in order: [setText] for row `i` follows row `i - 1`.
 * A batch is not thread-safe; use one per thread.
 */
class CandidateBatch(val capacity: Int) {
    init {
        if (capacity < 1) invalid("a batch's capacity must be at least 1, not $capacity")
    }

    /** Number of candidates (rows `0 until size` are ranked). */
    var size: Int = 0
        set(value) {
            if (value < 0 || value > capacity) invalid("size $value is outside 0..$capacity")
            field = value
        }

    /** `tasks[i]`: candidate `i`'s task ([Model.taskIndex]). */
    val tasks = IntArray(capacity)

    /** `bids[i]`: candidate `i`'s bid, used when [hasBids] (needed by [Objective.EXPECTED_VALUE]). */
    val bids = FloatArray(capacity)
    var hasBids = false

    internal var columns = 0
        private set
    internal val columnFields = IntArray(MAX_COLUMNS)
    internal val columnKinds = IntArray(MAX_COLUMNS)
    private val slots = IntArray(MAX_COLUMNS)
    internal var ids = LongArray(0)
    internal var dense = FloatArray(0)
    internal var texts = arrayOfNulls<ByteArray>(0)
    internal var offsets = IntArray(0)
    private var textRows = IntArray(0)
    internal var missing = ByteArray(0)

    /** Adds a column of 64-bit ids for candidate field [field]; returns the column's number. */
    fun idColumn(field: Int): Int = addColumn(field, KIND_IDS).also {
        ids = ids.copyOf(ids.size + capacity)
    }

    /** Adds a column of UTF-8 texts (categorical values hashed by the model). */
    fun textColumn(field: Int): Int = addColumn(field, KIND_TEXT).also {
        texts = texts.copyOf(texts.size + 1).also { t -> t[t.size - 1] = ByteArray(16 * capacity) }
        offsets = offsets.copyOf(offsets.size + capacity + 1)
        textRows = textRows.copyOf(textRows.size + 1)
    }

    /** Adds a column of floats for a dense candidate field. */
    fun denseColumn(field: Int): Int = addColumn(field, KIND_DENSE).also {
        dense = dense.copyOf(dense.size + capacity)
    }

    private fun addColumn(field: Int, kind: Int): Int {
        if (columns == MAX_COLUMNS) invalid("a batch has at most $MAX_COLUMNS columns")
        val c = columns
        slots[c] = (0 until c).count { columnKinds[it] and KIND_MASK == kind }
        columnFields[c] = field
        columnKinds[c] = kind
        missing = missing.copyOf(missing.size + capacity)
        columns++
        return c
    }

    /** Empties the batch (size 0, no bids, no text, no missing flags); columns stay. */
    fun clear() {
        size = 0
        hasBids = false
        textRows.fill(0)
        for (c in 0 until columns) {
            if (columnKinds[c] and HAS_MISSING != 0) {
                missing.fill(0, c * capacity, (c + 1) * capacity)
                columnKinds[c] = columnKinds[c] and KIND_MASK
            }
        }
    }

    fun setTask(row: Int, task: Int) {
        tasks[row] = task
    }

    fun setBid(row: Int, bid: Float) {
        bids[row] = bid
        hasBids = true
    }

    fun setId(column: Int, row: Int, id: Long) {
        ids[slotOf(column, KIND_IDS) * capacity + checkRow(row)] = id
    }

    fun setDense(column: Int, row: Int, value: Float) {
        dense[slotOf(column, KIND_DENSE) * capacity + checkRow(row)] = value
    }

    /** Sets row [row] of a text column to `utf8[from until to]`; rows are appended in order. */
    fun setText(column: Int, row: Int, utf8: ByteArray, from: Int = 0, to: Int = utf8.size) {
        val t = slotOf(column, KIND_TEXT)
        if (row != textRows[t]) invalid("text column $column: row $row set after ${textRows[t]} rows (append in order)")
        checkRow(row)
        val base = t * (capacity + 1)
        val start = offsets[base + row]
        val end = start + (to - from)
        var bytes = texts[t]!!
        if (end > bytes.size) bytes = bytes.copyOf(maxOf(end, 2 * bytes.size)).also { texts[t] = it }
        System.arraycopy(utf8, from, bytes, start, to - from)
        offsets[base + row + 1] = end
        textRows[t] = row + 1
    }

    fun setText(column: Int, row: Int, value: String) = setText(column, row, value.toByteArray(Charsets.UTF_8))

    /** Marks row [row] of [column] as having no value (its field's missing policy applies). */
    fun setMissing(column: Int, row: Int, isMissing: Boolean = true) {
        if (column !in 0 until columns) invalid("no column $column")
        missing[column * capacity + checkRow(row)] = if (isMissing) 1 else 0
        columnKinds[column] = columnKinds[column] or HAS_MISSING
    }

    private fun slotOf(column: Int, kind: Int): Int {
        if (column !in 0 until columns || columnKinds[column] and KIND_MASK != kind) {
            invalid("column $column is not a ${KIND_NAMES[kind]} column")
        }
        return slots[column]
    }

    private fun checkRow(row: Int): Int = row.also {
        if (it < 0 || it >= capacity) invalid("row $row is outside 0 until $capacity")
    }

    /** Every text column must hold a value for each of the [size] rows. */
    internal fun checkText() {
        for (t in textRows.indices) {
            if (textRows[t] != size) invalid("a text column holds ${textRows[t]} rows for $size candidates")
        }
    }

    private companion object {
        // The glue's KIND_* numbers and flag.
        const val KIND_IDS = 0
        const val KIND_TEXT = 1
        const val KIND_DENSE = 2
        const val KIND_MASK = 0xff
        const val HAS_MISSING = 0x100
        const val MAX_COLUMNS = 64
        val KIND_NAMES = arrayOf("id", "text", "dense")
    }
}
