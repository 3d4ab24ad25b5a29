// Sessions: per-thread ranking state for one model, and the options of a ranking.
package dev.camoe

import java.lang.ref.Cleaner

/** What the order sorts by. */
enum class Objective { PCTR, EXPECTED_VALUE }

/**
 * How a ranking is done (immutable: build it once and reuse it, so ranking allocates nothing).
 *
 * @property topK keep only the best [topK] candidates (0 = every eligible one).
 * @property eligibleFormats bit `f` set = format `f` ([Model.formatIndex]) is eligible; -1 = all.
 *   It must select at least one of the model's formats.
 * @property expertTopK mix only each candidate's [expertTopK] strongest experts (0 = all).
 */
data class RankOptions(
    val topK: Int = 0,
    val objective: Objective = Objective.PCTR,
    val eligibleFormats: Int = -1,
    val expertTopK: Int = 0,
) {
    companion object {
        @JvmField val DEFAULT = RankOptions()
    }
}

/**
 * Ranking state for one model, sized once for at most [maxCandidates] candidates.
 *
 * [threads] (1..64) is how many threads one [rank] call runs on: the calling thread and
 * `threads - 1` native workers the session starts and owns (1, the default, starts none).
 * Scores and order are the same bits for every thread count; a small batch runs on fewer
 * threads (each takes at least 16 candidates). Out of range, the constructor throws
 * [CamoeException] with [Status.INVALID_ARGUMENT].
 *
 * Thread rules (as in `camoe.h`): a session belongs to one thread at a time; use one
 * session per thread (they may share one [Model]). [close] frees it and stops its workers
 * (closing twice is safe; any use after close throws [CamoeException] with
 * [Status.NULL_ARGUMENT]); one never closed is freed by a [Cleaner] once unreachable.
 */
class Session @JvmOverloads constructor(
    val model: Model,
    val maxCandidates: Int,
    val threads: Int = 1,
) : AutoCloseable {
    private var handle: Long = model.withHandle { Native.newSession(it, maxCandidates, threads) }
    private val cleanable: Cleaner.Cleanable = CLEANER.register(this, Release(handle))

    private class Release(private val handle: Long) : Runnable {
        override fun run() = Native.releaseSession(handle)
    }

    private fun live(): Long = handle.also { if (it == 0L) closed("session") }

    /**
     * Sets the request's (user and context) features. On error the previous request, if
     * any, stays in effect.
     */
    fun setRequest(request: Request) {
        Native.setRequest(
            this, live(), request.size, request.fields, request.kinds, request.ids,
            request.dense, request.texts,
        )
    }

    /**
     * Scores [batch] against the current request: `scores[i]` is candidate `i`'s pCTR (NaN
     * when its format is not eligible) and `order` receives the indices of the best
     * candidates, best first (ties: lower index first); returns how many were written to
     * `order` (at most `order.size`). On error nothing is written. Allocates nothing.
     */
    fun rank(
        batch: CandidateBatch,
        options: RankOptions,
        scores: FloatArray,
        order: IntArray,
    ): Int {
        batch.checkText()
        return Native.rank(
            this, live(), batch.size, batch.capacity, batch.tasks,
            if (batch.hasBids) batch.bids else null,
            batch.columns, batch.columnFields, batch.columnKinds, batch.ids, batch.dense,
            batch.texts, batch.offsets, batch.missing,
            options.topK, options.objective.ordinal, options.eligibleFormats, options.expertTopK,
            scores, order,
        )
    }

    /**
     * Bench hook: ranks the batch of the last successful [rank] again [iterations] times
     * inside the native library (no JNI crossing); returns the nanoseconds it took.
     */
    internal fun rankCopiedAgain(iterations: Int): Long = Native.rankCopiedAgain(this, live(), iterations)

    override fun close() {
        handle = 0L
        cleanable.clean()
    }
}
