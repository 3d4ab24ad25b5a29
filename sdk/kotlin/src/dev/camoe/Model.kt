// A loaded model (shared by any number of threads and sessions) and what it describes.
package dev.camoe

import java.io.FileDescriptor
import java.lang.ref.Cleaner
import java.nio.ByteBuffer

/** Frees native handles of objects closed by the garbage collector instead of close(). */
internal val CLEANER: Cleaner = Cleaner.create()

/** Numeric mode of a model: the type of its linear layers. */
enum class Mode { F32, F16, INT8, MIXED }

/** Which side of a ranking call a field belongs to: REQUEST (user, context) or CANDIDATE (the ad). */
enum class Side { REQUEST, CANDIDATE }

enum class FieldKind { CATEGORICAL, DENSE }

/** A field of the model's schema; [index] is what requests and batch columns take. */
data class Field(
    val index: Int,
    val name: String,
    val side: Side,
    val kind: FieldKind,
    /** True: a value left out fails with BAD_FEATURE; false: it takes the default. */
    val required: Boolean,
)

/** A task (placement): its [format] (index into [Model.formats]) and [group] (into [Model.groups]). */
data class Task(val index: Int, val name: String, val format: Int, val group: Int)

/**
 * A camoe model, loaded into memory. Thread rules (as in `camoe.h`): a model is immutable
 * and may be shared by any number of threads and sessions; every method is thread-safe.
 *
 * [close] releases this object's hold on the native model; sessions created from it keep
 * the native model alive until they are closed (or collected). Closing twice is safe; any
 * use after close throws [CamoeException] with [Status.NULL_ARGUMENT]. A model that is
 * never closed is released by a [Cleaner] once unreachable.
 */
class Model private constructor(private var handle: Long) : AutoCloseable {
    private val lock = Any()
    private val cleanable: Cleaner.Cleanable = CLEANER.register(this, Release(handle))

    private class Release(private val handle: Long) : Runnable {
        override fun run() = Native.releaseModel(handle)
    }

    val name: String = Native.modelStrings(handle, Native.NAMES_MODEL)[0]
    val mode: Mode = Mode.values()[Native.modelInts(handle, Native.INTS_MODE)[0]]
    val formats: List<String> = Native.modelStrings(handle, Native.NAMES_FORMATS).toList()
    val groups: List<String> = Native.modelStrings(handle, Native.NAMES_GROUPS).toList()
    val fields: List<Field> = Native.modelInts(handle, Native.INTS_FIELDS).let { ints ->
        Native.modelStrings(handle, Native.NAMES_FIELDS).mapIndexed { i, name ->
            Field(
                i, name, Side.values()[ints[3 * i]], FieldKind.values()[ints[3 * i + 1]],
                ints[3 * i + 2] != 0,
            )
        }
    }
    val tasks: List<Task> = Native.modelInts(handle, Native.INTS_TASKS).let { ints ->
        Native.modelStrings(handle, Native.NAMES_TASKS).mapIndexed { i, name ->
            Task(i, name, ints[2 * i], ints[2 * i + 1])
        }
    }

    private val fieldByName = fields.associateBy { it.name }
    private val taskByName = tasks.associateBy { it.name }

    /** The field named [name]; BAD_FEATURE when the model has none. */
    fun field(name: String): Field =
        fieldByName[name] ?: throw CamoeException(Status.BAD_FEATURE, "unknown field \"$name\"")

    fun fieldIndex(name: String): Int = field(name).index

    /** The task named [name]; BAD_FEATURE when the model has none. */
    fun taskIndex(name: String): Int =
        taskByName[name]?.index ?: throw CamoeException(Status.BAD_FEATURE, "unknown task \"$name\"")

    /** The format named [name] (its bit in [RankOptions.eligibleFormats]); BAD_FEATURE when unknown. */
    fun formatIndex(name: String): Int = formats.indexOf(name).also {
        if (it < 0) throw CamoeException(Status.BAD_FEATURE, "unknown format \"$name\"")
    }

    /**
     * The 64-bit id a categorical text value hashes to: an id column filled with these ranks
     * exactly like the text itself, without sending the text on every call.
     */
    fun hash(text: String): Long = withHandle { Native.hash(it, text.toByteArray(Charsets.UTF_8)) }

    /** Runs [block] with the native handle, which [close] cannot free meanwhile. */
    internal fun <T> withHandle(block: (Long) -> T): T = synchronized(lock) {
        if (handle == 0L) closed("model")
        block(handle)
    }

    override fun close() = synchronized(lock) {
        handle = 0L
        cleanable.clean()
    }

    /** Test hook: whether the native model (held by this object or any session) still exists. */
    internal class Watch(model: Model) : AutoCloseable {
        private var watch = model.withHandle { Native.watchModel(it) }
        val alive: Boolean get() = Native.watchedModelAlive(watch)
        override fun close() {
            Native.releaseWatch(watch)
            watch = 0L
        }
    }

    companion object {
        /** Reads the model file at [path] into memory (the file may change afterwards). */
        @JvmStatic
        fun load(path: String): Model = Model(Native.loadPath(path))

        /**
         * Copies the bytes between [buffer]'s position and limit (the buffer is not changed
         * and may be reused afterwards). A heap buffer is copied to a direct one first.
         */
        @JvmStatic
        fun fromByteBuffer(buffer: ByteBuffer): Model {
            if (buffer.isDirect) return Model(Native.loadBuffer(buffer, buffer.position(), buffer.remaining()))
            val direct = ByteBuffer.allocateDirect(buffer.remaining()).put(buffer.duplicate())
            return Model(Native.loadBuffer(direct, 0, direct.capacity()))
        }

        /**
         * Reads [length] bytes at [offset] of an open file, e.g. an uncompressed Android asset:
         * `context.assets.openFd("m.camoe").use { Model.fromFileDescriptor(it.fileDescriptor,
         * it.startOffset, it.length) }`. The descriptor and its file position are not changed.
         */
        @JvmStatic
        fun fromFileDescriptor(fd: FileDescriptor, offset: Long, length: Long): Model =
            fromFileDescriptor(Native.descriptorOf(fd), offset, length)

        /** As above, for a raw descriptor number (e.g. `ParcelFileDescriptor.fd`). */
        @JvmStatic
        fun fromFileDescriptor(fd: Int, offset: Long, length: Long): Model =
            Model(Native.loadFd(fd, offset, length))

        /** Test hook: a panic in the native code, which must arrive as CamoeException(PANIC). */
        internal fun panicForTest() = Native.panicForTest()
    }
}
