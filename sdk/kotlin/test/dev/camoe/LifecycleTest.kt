// Lifetimes and threads: a model lives until its last session is closed or collected; threads sharing a model agree.
package dev.camoe

import java.util.concurrent.Callable
import java.util.concurrent.Executors
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class LifecycleTest {
    @Test
    fun aModelIsFreedAfterItsSessionsAreClosed() {
        val model = Model.load(Sample.modelPath)
        Model.Watch(model).use { watch ->
            val sessions = List(3) { Session(model, 4) }
            model.close()
            assertTrue(watch.alive, "sessions hold the model")
            sessions.take(2).forEach { it.close() }
            assertTrue(watch.alive, "one session still holds the model")
            sessions[2].close()
            assertFalse(watch.alive, "the last session's close frees the model")
        }
    }

    /** Creates a model with sessions and drops every reference without closing anything. */
    private fun abandonedModel(): Model.Watch {
        val model = Model.load(Sample.modelPath)
        val watch = Model.Watch(model)
        // The second runs on 2 threads: the cleaner also stops a session's workers.
        repeat(2) { Session(model, 4, threads = it + 1).setRequest(Sample.request(model)) }
        return watch
    }

    @Test
    fun aModelIsFreedAfterItsSessionsAreGarbageCollected() {
        abandonedModel().use { watch ->
            val deadline = System.nanoTime() + 20_000_000_000L
            while (watch.alive && System.nanoTime() < deadline) {
                System.gc()
                Thread.sleep(20)
            }
            assertFalse(watch.alive, "the cleaner did not free the model within 20 s of collections")
        }
    }

    @Test
    fun fourThreadsSharingOneModelAgree() = Model.load(Sample.modelPath).use { model ->
        val pool = Executors.newFixedThreadPool(4)
        try {
            val results = pool.invokeAll(List(4) { t ->
                Callable {
                    // Each thread its own session and batch; text columns on odd threads.
                    val batch = Sample.batch(model, 200, if (t % 2 == 1) Sample.textFieldNames(model) else emptySet())
                    Session(model, 200).use { s ->
                        s.setRequest(Sample.request(model))
                        val scores = FloatArray(200)
                        val order = IntArray(200)
                        (0 until 300).map {
                            s.rank(batch, RankOptions.DEFAULT, scores, order)
                            scores.map { java.lang.Float.floatToRawIntBits(it) } + order.toList()
                        }.distinct()
                    }
                }
            }).map { it.get() }
            val reference = Sample.rank(model, Sample.batch(model, 200))
            for (r in results) {
                assertEquals(1, r.size, "a thread's rankings varied")
                val bits = r[0]
                assertEquals(reference, (0 until 200).map { i -> bits[200 + i] to bits[bits[200 + i]] })
            }
        } finally {
            pool.shutdown()
        }
    }
}
