// The native methods of libcamoe_jni.so (sdk/kotlin/jni), loaded once; only the SDK's classes call them.
package dev.camoe

import java.io.FileDescriptor
import java.nio.ByteBuffer

internal object Native {
    init {
        // -Dcamoe.jni.library=/path/to/libcamoe_jni.so overrides the library path search
        // (tests and benches); apps ship the library in the AAR's jni/<abi>/.
        val path = System.getProperty("camoe.jni.library")
        if (path != null) System.load(path) else System.loadLibrary("camoe_jni")
    }

    // Which list modelStrings / modelInts return (same numbers as the glue's NAMES_* / INTS_*).
    const val NAMES_FIELDS = 0
    const val NAMES_TASKS = 1
    const val NAMES_FORMATS = 2
    const val NAMES_GROUPS = 3
    const val NAMES_MODEL = 4
    const val INTS_FIELDS = 0
    const val INTS_TASKS = 1
    const val INTS_MODE = 2

    @JvmStatic external fun loadPath(path: String): Long
    @JvmStatic external fun loadBuffer(buffer: ByteBuffer, offset: Int, length: Int): Long
    @JvmStatic external fun loadFd(fd: Int, offset: Long, length: Long): Long
    @JvmStatic external fun descriptorOf(fd: FileDescriptor): Int
    @JvmStatic external fun releaseModel(handle: Long)
    @JvmStatic external fun modelStrings(handle: Long, which: Int): Array<String>
    @JvmStatic external fun modelInts(handle: Long, which: Int): IntArray
    @JvmStatic external fun hash(handle: Long, utf8: ByteArray): Long
    @JvmStatic external fun watchModel(handle: Long): Long
    @JvmStatic external fun watchedModelAlive(watch: Long): Boolean
    @JvmStatic external fun releaseWatch(watch: Long)
    @JvmStatic external fun panicForTest()

    @JvmStatic external fun newSession(model: Long, maxCandidates: Int, threads: Int): Long
    @JvmStatic external fun releaseSession(handle: Long)

    // `owner` keeps the Kotlin object (and so its handle) reachable during the call.
    @JvmStatic external fun setRequest(
        owner: Any, handle: Long, n: Int, fields: IntArray, kinds: ByteArray,
        ids: LongArray, dense: FloatArray, texts: Array<ByteArray?>,
    )

    @JvmStatic external fun rank(
        owner: Any, handle: Long, n: Int, stride: Int, tasks: IntArray, bids: FloatArray?,
        columns: Int, fields: IntArray, kinds: IntArray, ids: LongArray, dense: FloatArray,
        texts: Array<ByteArray?>, offsets: IntArray, missing: ByteArray,
        topK: Int, objective: Int, eligibleFormats: Int, expertTopK: Int,
        scores: FloatArray, order: IntArray,
    ): Int

    /** Bench hook: ranks the last batch `rank` copied again, natively; returns nanoseconds. */
    @JvmStatic external fun rankCopiedAgain(owner: Any, handle: Long, iterations: Int): Long
}
