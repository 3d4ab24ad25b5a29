// A Kotlin consumer of the C ABI through JNA, as an Android/JVM SDK would bind it:
// ranks models/sample-request.txt and prints the ranking in `camoe-rank`'s format
// (ffi-tests/kotlin/run.sh compares the two), then walks the error paths.
//
// usage: kotlin -cp jna.jar:camoe-test.jar CamoeTestKt LIBDIR MODEL REQUEST

import com.sun.jna.IntegerType
import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.PointerByReference
import java.io.File
import kotlin.system.exitProcess

/** C `size_t`. */
class SizeT(value: Long = 0) : IntegerType(Native.SIZE_T_SIZE, value, true) {
    constructor() : this(0)
    override fun toByte(): Byte = toInt().toByte()
    override fun toShort(): Short = toInt().toShort()
}

@Structure.FieldOrder("text", "text_len", "id", "field", "kind", "dense")
open class Feature : Structure() {
    @JvmField var text: Pointer? = null
    @JvmField var text_len: SizeT = SizeT()
    @JvmField var id: Long = 0
    @JvmField var field: Int = 0
    @JvmField var kind: Int = 0
    @JvmField var dense: Float = 0f
}

@Structure.FieldOrder("features", "n_features", "task", "bid")
open class CandidateS : Structure() {
    @JvmField var features: Pointer? = null
    @JvmField var n_features: SizeT = SizeT()
    @JvmField var task: Int = 0
    @JvmField var bid: Float = 0f
}

@Structure.FieldOrder("name", "name_len", "side", "kind", "vocab", "dim", "missing")
class FieldInfo : Structure() {
    @JvmField var name: Pointer? = null
    @JvmField var name_len: SizeT = SizeT()
    @JvmField var side: Int = 0
    @JvmField var kind: Int = 0
    @JvmField var vocab: Int = 0
    @JvmField var dim: Int = 0
    @JvmField var missing: Int = 0
}

/** Mirrors camoe_rank_options; `struct_size` tells the library which layout this is. */
@Structure.FieldOrder("struct_size", "top_k", "objective", "eligible_formats", "expert_top_k")
class RankOptions : Structure() {
    @JvmField var struct_size: Int = 0
    @JvmField var top_k: Int = 0
    @JvmField var objective: Int = 0
    @JvmField var eligible_formats: Int = 0
    @JvmField var expert_top_k: Int = 0
}

@Structure.FieldOrder(
    "n_fields", "n_request_fields", "n_candidate_fields", "n_tasks", "n_groups", "n_formats",
    "n_experts", "n_cross_layers", "cross_rank", "mode", "x0_width", "request_width",
    "file_size", "parameter_count", "macs_per_candidate", "zero_copy",
)
class ModelInfo : Structure() {
    @JvmField var n_fields: Int = 0
    @JvmField var n_request_fields: Int = 0
    @JvmField var n_candidate_fields: Int = 0
    @JvmField var n_tasks: Int = 0
    @JvmField var n_groups: Int = 0
    @JvmField var n_formats: Int = 0
    @JvmField var n_experts: Int = 0
    @JvmField var n_cross_layers: Int = 0
    @JvmField var cross_rank: Int = 0
    @JvmField var mode: Int = 0
    @JvmField var x0_width: Int = 0
    @JvmField var request_width: Int = 0
    @JvmField var file_size: Long = 0
    @JvmField var parameter_count: Long = 0
    @JvmField var macs_per_candidate: Long = 0
    @JvmField var zero_copy: Int = 0
}

@Suppress("FunctionName")
interface Camoe : Library {
    fun camoe_abi_version(): Int
    fun camoe_status_name(status: Int): String
    fun camoe_last_error(): String
    fun camoe_kernel_info(): String
    fun camoe_model_load_file(path: String, out: PointerByReference): Int
    // JNA copies a ByteArray to native memory for the call only: the copying loader is
    // the one that fits (the borrowing one would read freed memory later).
    fun camoe_model_load_bytes_copy(data: ByteArray, len: SizeT, out: PointerByReference): Int
    fun camoe_model_get_info(model: Pointer, out: ModelInfo): Int
    fun camoe_model_free(model: PointerByReference)
    fun camoe_model_field_index(model: Pointer, name: ByteArray, len: SizeT, out: IntByReference): Int
    fun camoe_model_field(model: Pointer, index: Int, out: FieldInfo): Int
    fun camoe_model_task_index(model: Pointer, name: ByteArray, len: SizeT, out: IntByReference): Int
    fun camoe_session_new(model: Pointer, max: SizeT, out: PointerByReference): Int
    fun camoe_session_free(session: PointerByReference)
    fun camoe_session_set_request(session: Pointer, features: Pointer?, n: SizeT): Int
    fun camoe_rank_options_default(out: RankOptions): Int
    fun camoe_session_rank(
        session: Pointer, candidates: Pointer?, n: SizeT, options: RankOptions?,
        scores: FloatArray, order: IntArray, orderCap: SizeT, orderLen: Pointer,
    ): Int
}

const val OK = 0
const val STATUS_INVALID_ARGUMENT = -9
const val STATUS_BAD_FEATURE = -7
const val VALUE_STR = 2
const val VALUE_DENSE = 3
const val FIELD_DENSE = 1

fun check(what: String, cond: Boolean) {
    if (!cond) {
        System.err.println("FAILED: $what")
        exitProcess(1)
    }
}

/** `field=value` pairs of a request-file line as C features; the native memory lives as long as `keep`. */
fun features(c: Camoe, model: Pointer, pairs: List<Pair<String, String>>, keep: MutableList<Memory>): Pointer? {
    if (pairs.isEmpty()) return null
    val arr = Feature().toArray(pairs.size)
    for ((i, kv) in pairs.withIndex()) {
        val f = arr[i] as Feature
        val name = kv.first.toByteArray()
        val idx = IntByReference()
        check("field ${kv.first}", c.camoe_model_field_index(model, name, SizeT(name.size.toLong()), idx) == OK)
        f.field = idx.value
        // The schema says whether the field is dense (a number) or categorical (text).
        val info = FieldInfo()
        check("field info", c.camoe_model_field(model, idx.value, info) == OK)
        check("field name", info.name!!.getByteArray(0, info.name_len.toInt()).contentEquals(name))
        if (info.kind == FIELD_DENSE) {
            f.kind = VALUE_DENSE
            f.dense = kv.second.toFloat()
        } else {
            val bytes = kv.second.toByteArray()
            val mem = Memory(bytes.size.toLong()).also { keep.add(it) }
            mem.write(0, bytes, 0, bytes.size)
            f.kind = VALUE_STR
            f.text = mem
            f.text_len = SizeT(bytes.size.toLong())
        }
        f.write()
    }
    return arr[0].pointer
}

fun main(args: Array<String>) {
    val (libDir, modelPath, requestPath) = args
    System.setProperty("jna.library.path", libDir)
    val c = Native.load("camoe", Camoe::class.java)
    // The header's version (run.sh passes it): the library and the header agree.
    check("abi version", c.camoe_abi_version() == System.getProperty("camoe.abi").toInt())
    check("status name", c.camoe_status_name(-2) == "IO")

    // Error path first: a missing file is IO with a message, and the handle stays NULL.
    val bad = PointerByReference()
    check("missing file", c.camoe_model_load_file("/nonexistent/model.camoe", bad) == -2)
    check("null handle", bad.value == null)
    check("last error", c.camoe_last_error().contains("nonexistent"))

    // Rank with a model loaded from a copy of the file's bytes (the JVM array is gone
    // after the call); the ranking must still equal camoe-rank's on the mapped file.
    val mref = PointerByReference()
    val fileBytes = File(modelPath).readBytes()
    check("load: " + c.camoe_last_error(),
        c.camoe_model_load_bytes_copy(fileBytes, SizeT(fileBytes.size.toLong()), mref) == OK)
    fileBytes.fill(0)
    val model = mref.value
    val info = ModelInfo()
    check("info", c.camoe_model_get_info(model, info) == OK)
    check("copied, not borrowed", info.zero_copy == 0 && info.file_size == File(modelPath).length())
    val nope = "no_such_field".toByteArray()
    check("unknown name is INVALID_ARGUMENT",
        c.camoe_model_field_index(model, nope, SizeT(nope.size.toLong()), IntByReference()) == STATUS_INVALID_ARGUMENT)

    // Parse the request file as camoe-rank does.
    var request = listOf<Pair<String, String>>()
    val cands = mutableListOf<Triple<String, Float, List<Pair<String, String>>>>()
    for (raw in File(requestPath).readLines()) {
        val words = raw.substringBefore('#').trim().split(Regex("\\s+")).filter { it.isNotEmpty() }
        if (words.isEmpty()) continue
        val kv = words.drop(1).map { it.substringBefore('=') to it.substringAfter('=') }
        if (words[0] == "request") request = kv
        else cands.add(Triple(kv.first { it.first == "task" }.second,
            kv.firstOrNull { it.first == "bid" }?.second?.toFloat() ?: 0f,
            kv.filter { it.first != "task" && it.first != "bid" }))
    }

    val sref = PointerByReference()
    check("session", c.camoe_session_new(model, SizeT(cands.size.toLong()), sref) == OK)
    val session = sref.value
    val keep = mutableListOf<Memory>()
    check("set_request: " + c.camoe_last_error(),
        c.camoe_session_set_request(session, features(c, model, request, keep), SizeT(request.size.toLong())) == OK)

    val carr = CandidateS().toArray(cands.size)
    val tasks = mutableListOf<String>()
    for ((i, cand) in cands.withIndex()) {
        val s = carr[i] as CandidateS
        val tname = cand.first.toByteArray()
        val t = IntByReference()
        check("task ${cand.first}", c.camoe_model_task_index(model, tname, SizeT(tname.size.toLong()), t) == OK)
        s.task = t.value
        s.bid = cand.second
        s.features = features(c, model, cand.third, keep)
        s.n_features = SizeT(cand.third.size.toLong())
        s.write()
        tasks.add(cand.first)
    }
    val opts = RankOptions()
    opts.struct_size = opts.size()
    check("options", c.camoe_rank_options_default(opts) == OK)
    check("options filled", opts.struct_size == 20 && opts.eligible_formats == -1 && opts.top_k == 0)
    val scores = FloatArray(cands.size)
    val order = IntArray(cands.size)
    val n = Memory(Native.SIZE_T_SIZE.toLong())
    check("rank: " + c.camoe_last_error(), c.camoe_session_rank(session, carr[0].pointer, SizeT(cands.size.toLong()),
        opts, scores, order, SizeT(cands.size.toLong()), n) == OK)
    val count = if (Native.SIZE_T_SIZE == 8) n.getLong(0).toInt() else n.getInt(0)
    check("count", count == cands.size)
    for (r in 0 until count) {
        val i = order[r]
        println("%4d %10d  %-18s %.6f".format(r + 1, i, tasks[i], scores[i]))
    }

    // An unknown field index is BAD_FEATURE with a message; the session still works after it.
    val wrong = Feature().also { it.field = 999; it.kind = VALUE_DENSE; it.dense = 1f; it.write() }
    check("bad feature", c.camoe_session_set_request(session, wrong.pointer, SizeT(1)) == STATUS_BAD_FEATURE)
    check("bad feature message", c.camoe_last_error().isNotEmpty())
    // Free: the handles become NULL, and freeing NULL again is a no-op.
    c.camoe_session_free(sref)
    check("session nulled", sref.value == null)
    c.camoe_session_free(sref)
    c.camoe_model_free(mref)
    check("model nulled", mref.value == null)
    c.camoe_model_free(mref)
    System.err.println("kotlin: ranked ${cands.size} candidates through JNA (${c.camoe_kernel_info()})")
}
