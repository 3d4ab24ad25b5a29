// Errors: the stable status codes (the C ABI's numbers) and the one exception class carrying them.
package dev.camoe

/** Outcome of a call, numbered as in the C ABI (`camoe_status`); the numbers never change. */
enum class Status(val code: Int) {
    OK(0),
    /** A required argument was null, or the model or session was already closed. */
    NULL_ARGUMENT(-1),
    IO(-2),
    BAD_MODEL(-3),
    VERSION(-4),
    CHECKSUM(-5),
    /** More candidates than the session holds, or an output array too small. */
    CAPACITY(-6),
    /** A feature, field, task or value is invalid (unknown, wrong kind, NaN, missing…). */
    BAD_FEATURE(-7),
    /** A panic was caught in the native code (a bug in camoe: please report it). */
    PANIC(-8),
    INVALID_ARGUMENT(-9),
    SIGNATURE(-10);

    companion object {
        private val byCode = values().associateBy { it.code }

        /** The status numbered [code]; an unknown number (a newer library) reads as PANIC. */
        fun of(code: Int): Status = byCode[code] ?: PANIC
    }
}

/** Every camoe failure: [status] says what kind, the message says what exactly. */
class CamoeException(val status: Status, message: String) : RuntimeException(message) {
    /** The glue's constructor (JNI passes the status number). */
    constructor(code: Int, message: String) : this(Status.of(code), message)

    override fun toString(): String = "CamoeException(${status.name}): $message"
}

internal fun closed(what: String): Nothing =
    throw CamoeException(Status.NULL_ARGUMENT, "the $what is closed")

internal fun invalid(message: String): Nothing =
    throw CamoeException(Status.INVALID_ARGUMENT, message)
