// A request's features (user and context), reusable: clear() and fill again.
package dev.camoe

/**
 * The features of one request, by field index ([Model.fieldIndex]). Fields left out
 * follow their missing policy. Reuse one instance: [clear] keeps its arrays.
 */
class Request {
    internal var size = 0
        private set
    internal var fields = IntArray(8)
    internal var kinds = ByteArray(8)
    internal var ids = LongArray(8)
    internal var dense = FloatArray(8)
    internal var texts = arrayOfNulls<ByteArray>(8)

    fun clear(): Request = apply {
        texts.fill(null, 0, size)
        size = 0
    }

    fun id(field: Int, value: Long): Request = add(field, VALUE_ID).also { ids[size - 1] = value }

    /** A categorical value as UTF-8 text (hashed by the model). */
    fun text(field: Int, utf8: ByteArray): Request = add(field, VALUE_TEXT).also { texts[size - 1] = utf8 }

    fun text(field: Int, value: String): Request = text(field, value.toByteArray(Charsets.UTF_8))

    fun dense(field: Int, value: Float): Request = add(field, VALUE_DENSE).also { dense[size - 1] = value }

    /** Explicitly no value: the field's missing policy applies. */
    fun missing(field: Int): Request = add(field, VALUE_MISSING)

    private fun add(field: Int, kind: Byte): Request {
        if (size == fields.size) {
            val n = size * 2
            fields = fields.copyOf(n)
            kinds = kinds.copyOf(n)
            ids = ids.copyOf(n)
            dense = dense.copyOf(n)
            texts = texts.copyOf(n)
        }
        fields[size] = field
        kinds[size] = kind
        size++
        return this
    }

    private companion object {
        // The glue's VALUE_* numbers.
        const val VALUE_MISSING: Byte = 0
        const val VALUE_ID: Byte = 1
        const val VALUE_TEXT: Byte = 2
        const val VALUE_DENSE: Byte = 3
    }
}
