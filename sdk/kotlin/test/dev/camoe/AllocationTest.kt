// Ranking a reused 200-candidate batch allocates (almost) nothing on the Java heap.
package dev.camoe

import java.lang.management.ManagementFactory
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class AllocationTest {
    @Test
    fun tenThousandRanksAllocateUnder64BytesEach() = Model.load(Sample.modelPath).use { model ->
        val mx = ManagementFactory.getThreadMXBean() as com.sun.management.ThreadMXBean
        val thread = Thread.currentThread().id
        // Ids, text and dense columns, and bids: every array the glue reads.
        val text = Sample.textFieldNames(model).take(1).toSet()
        val batch = Sample.batch(model, 200, asText = text)
        val options = RankOptions(objective = Objective.EXPECTED_VALUE)
        Session(model, 200).use { s ->
            s.setRequest(Sample.request(model))
            val scores = FloatArray(200)
            val order = IntArray(200)
            repeat(2_000) { s.rank(batch, options, scores, order) }
            val before = mx.getThreadAllocatedBytes(thread)
            repeat(10_000) { s.rank(batch, options, scores, order) }
            val perCall = (mx.getThreadAllocatedBytes(thread) - before) / 10_000.0
            println("AllocationTest: %.2f bytes allocated per rank (200 candidates)".format(perCall))
            assertTrue(perCall < 64.0, "$perCall bytes per rank")
        }
    }
}
