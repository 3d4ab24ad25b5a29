// Intra-rank threads: 2 and 3 threads rank the same bits and order as 1, bad counts throw, close stops the workers promptly.
package dev.camoe

import java.io.File
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test

class ThreadsTest {
    /** Every score's bits (NaN for ineligible candidates included), then the order. */
    private fun ranking(s: Session, batch: CandidateBatch, options: RankOptions): List<Int> {
        val scores = FloatArray(batch.size)
        val order = IntArray(batch.size)
        val k = s.rank(batch, options, scores, order)
        return scores.map { java.lang.Float.floatToRawIntBits(it) } + order.take(k)
    }

    @Test
    fun twoAndThreeThreadsRankAsOne() = Model.load(Sample.modelPath).use { model ->
        // All options, and only the audio format eligible (NaN scores, a shorter order).
        val options = listOf(RankOptions.DEFAULT, RankOptions(eligibleFormats = 1 shl model.formatIndex("audio")))
        // 200 candidates split across the threads; 7 run on the calling thread alone.
        val batches = listOf(200, 7).flatMap { n ->
            listOf(Sample.batch(model, n, capacity = 200), Sample.batch(model, n, Sample.textFieldNames(model), 200))
        }
        val sessions = listOf(1, 2, 3).map { Session(model, 200, it).apply { setRequest(Sample.request(model)) } }
        try {
            // The 1-thread session is the sample's reference ranking (rank-bits, the Rust API).
            assertEquals(Sample.expected, Sample.rank(model, Sample.batch(model)))
            for (batch in batches) for (o in options) {
                val one = ranking(sessions[0], batch, o)
                val k = one.size - batch.size
                assertEquals(one.take(batch.size).count { !Float.fromBits(it).isNaN() }, k)
                assertTrue(if (o === RankOptions.DEFAULT) k == batch.size else k in 1 until batch.size, "$k ranked")
                for (s in sessions.drop(1)) {
                    // Twice: a threaded session's second call reuses its workers.
                    repeat(2) { assertEquals(one, ranking(s, batch, o), "${s.threads} threads, ${batch.size} candidates, $o") }
                }
            }
            for (t in listOf(2, 3)) assertEquals(Sample.expected, Sample.rank(model, Sample.batch(model), threads = t))
        } finally {
            sessions.forEach { it.close() }
        }
    }

    @Test
    fun badThreadCountsThrowInvalidArgument() = Model.load(Sample.modelPath).use { model ->
        for (t in listOf(0, -1, 65, Int.MAX_VALUE, Int.MIN_VALUE)) {
            try {
                Session(model, 8, t).close()
                fail("Session(model, 8, $t) did not throw")
            } catch (e: CamoeException) {
                assertEquals(Status.INVALID_ARGUMENT, e.status, e.message)
                assertTrue(e.message?.contains("threads") == true, e.message)
            }
        }
        Session(model, 8, 64).use { assertEquals(64, it.threads) } // the largest accepted
        Session(model, 8).use { assertEquals(1, it.threads) }
    }

    /** The process's native rank workers (the runtime names them `camoe-rank-<i>`; Linux's /proc). */
    private fun workers(): Int =
        (File("/proc/self/task").listFiles() ?: error("no /proc/self/task")).count {
            runCatching { File(it, "comm").readText() }.getOrDefault("").startsWith("camoe-rank-")
        }

    @Test
    fun aSessionOwnsThreadsMinusOneWorkers() = Model.load(Sample.modelPath).use { model ->
        val before = workers()
        Session(model, 200, 3).use { assertEquals(before + 2, workers()) }
        assertEquals(before, workers(), "close left workers running")
        Session(model, 200).use { assertEquals(before, workers()) }
    }

    @Test
    fun closingAThreadedSessionIsPromptAndFreesTheModel() {
        val model = Model.load(Sample.modelPath)
        Model.Watch(model).use { watch ->
            val batch = Sample.batch(model, 200)
            val times = mutableListOf<Long>()
            for (idle in listOf(0L, 300L)) { // workers still spinning after a rank, or asleep
                val s = Session(model, 200, 4)
                s.setRequest(Sample.request(model))
                s.rank(batch, RankOptions.DEFAULT, FloatArray(200), IntArray(200))
                Thread.sleep(idle)
                val t0 = System.nanoTime()
                s.close()
                times += (System.nanoTime() - t0) / 1_000_000
            }
            model.close()
            assertFalse(watch.alive, "closing the threaded sessions did not free the model")
            // Generous for a loaded machine: a close waits for the workers to leave their loop, not for a timeout.
            println("ThreadsTest: closing a 4-thread session took $times ms (just after a rank, after 300 ms idle)")
            assertTrue(times.all { it < 2_000 }, "close took $times ms")
        }
    }
}
