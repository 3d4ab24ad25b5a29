// The README's "From Kotlin" example, compiled and run as written there.
package dev.camoe

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class ExampleTest {
    @Test
    fun readmeExample() {
        val model = Model.load(Sample.modelPath)
        // -- README "From Kotlin" begins
        val batch = CandidateBatch(200) // primitive columns, reused for every call
        val adId = batch.idColumn(model.fieldIndex("ad_id"))
        val seconds = batch.denseColumn(model.fieldIndex("creative_seconds"))
        val scores = FloatArray(200)
        val order = IntArray(200)
        Session(model, 200).use { session -> // one session per thread; the model is shared
            session.setRequest(Request().text(model.fieldIndex("country"), "SE").dense(model.fieldIndex("session_minutes"), 34f))
            batch.clear()
            batch.size = 1
            batch.setTask(0, model.taskIndex("music_audio_break"))
            batch.setBid(0, 2.1f)
            batch.setId(adId, 0, model.hash("a_1001"))
            batch.setDense(seconds, 0, 30f)
            val k = session.rank(batch, RankOptions.DEFAULT, scores, order) // allocates nothing
            // -- README "From Kotlin" ends
            assertEquals(1, k)
            assertEquals(0, order[0])
            assertTrue(scores[0] > 0f && scores[0] < 1f)
        }
        model.close()
    }
}
