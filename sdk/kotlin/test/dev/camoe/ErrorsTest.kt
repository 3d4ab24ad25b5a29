// Every error path throws CamoeException with the right status, leaves outputs untouched, and never crashes the JVM.
package dev.camoe

import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class ErrorsTest {
    private fun expect(status: Status, block: () -> Unit): CamoeException {
        val e = try {
            block()
            null
        } catch (e: CamoeException) {
            e
        } ?: fail("expected CamoeException($status), nothing was thrown")
        assertEquals(status, e.status, e.message)
        assertTrue(e.message?.isNotEmpty() == true)
        return e
    }

    private fun loadBytes(bytes: ByteArray) = Model.fromByteBuffer(ByteBuffer.wrap(bytes)).close()

    @Test
    fun loadErrors(@TempDir dir: File) {
        val good = File(Sample.modelPath).readBytes()
        expect(Status.IO) { Model.load(File(dir, "absent.camoe").path) }
        expect(Status.BAD_MODEL) { loadBytes("not a model at all, just text".toByteArray()) }
        expect(Status.BAD_MODEL) { loadBytes(good.copyOf(good.size / 2)) }
        // The next format version (byte 8: the low byte of the little-endian version).
        expect(Status.VERSION) { loadBytes(good.copyOf().also { it[8] = (it[8] + 1).toByte() }) }
        expect(Status.CHECKSUM) { loadBytes(good.copyOf().also { it[good.size / 2] = (it[good.size / 2] + 1).toByte() }) }
        val file = File(dir, "m.camoe").apply { writeBytes(good) }
        FileInputStream(file).use { input ->
            expect(Status.IO) { Model.fromFileDescriptor(input.fd, 1, good.size.toLong()) } // past the end
            expect(Status.INVALID_ARGUMENT) { Model.fromFileDescriptor(input.fd, -1, 10) }
        }
        expect(Status.INVALID_ARGUMENT) { Model.fromFileDescriptor(-1, 0, 10) }
        expect(Status.IO) { Model.fromFileDescriptor(1 shl 30, 0, 10) } // not an open descriptor
    }

    @Test
    fun namesAndSessionSizes() = Model.load(Sample.modelPath).use { model ->
        expect(Status.BAD_FEATURE) { model.fieldIndex("no_such_field") }
        expect(Status.BAD_FEATURE) { model.taskIndex("no_such_task") }
        expect(Status.BAD_FEATURE) { model.formatIndex("hologram") }
        expect(Status.INVALID_ARGUMENT) { Session(model, 0) }
        expect(Status.INVALID_ARGUMENT) { Session(model, -5) }
        expect(Status.INVALID_ARGUMENT) { CandidateBatch(0) }
    }

    @Test
    fun requestErrorsKeepThePreviousRequest() = Model.load(Sample.modelPath).use { model ->
        val batch = Sample.batch(model)
        Session(model, batch.size).use { s ->
            val scores = FloatArray(batch.size)
            val order = IntArray(batch.size)
            expect(Status.BAD_FEATURE) { s.rank(batch, RankOptions.DEFAULT, scores, order) } // no request yet
            s.setRequest(Sample.request(model))
            val candidateField = model.fields.first { it.side == Side.CANDIDATE }
            val denseField = model.fields.first { it.side == Side.REQUEST && it.kind == FieldKind.DENSE }
            val categorical = model.fields.first { it.side == Side.REQUEST && it.kind == FieldKind.CATEGORICAL }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().id(model.fields.size, 1)) }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().id(-1, 1)) }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().text(candidateField.index, "x")) }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().dense(denseField.index, Float.NaN)) }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().dense(categorical.index, 1f)) }
            expect(Status.BAD_FEATURE) { s.setRequest(Request().id(categorical.index, 1).id(categorical.index, 2)) }
            val k = s.rank(batch, RankOptions.DEFAULT, scores, order)
            assertEquals(Sample.expected, (0 until k).map { order[it] to java.lang.Float.floatToRawIntBits(scores[order[it]]) })
        }
    }

    @Test
    fun rankErrorsWriteNothing() = Model.load(Sample.modelPath).use { model ->
        val batch = Sample.batch(model)
        val n = batch.size
        Session(model, n).use { s ->
            s.setRequest(Sample.request(model))
            val scores = FloatArray(n) { -1f }
            val order = IntArray(n) { -1 }
            fun untouched() {
                assertArrayEquals(FloatArray(n) { -1f }, scores)
                assertArrayEquals(IntArray(n) { -1 }, order)
            }
            expect(Status.CAPACITY) { s.rank(Sample.batch(model, n + 1), RankOptions.DEFAULT, FloatArray(n + 1), IntArray(n + 1)) }
            expect(Status.CAPACITY) { s.rank(batch, RankOptions.DEFAULT, FloatArray(n - 1), order) }
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions(eligibleFormats = 0), scores, order) }
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions(eligibleFormats = 1 shl model.formats.size), scores, order) }
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions(topK = -1), scores, order) }
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions(expertTopK = -1), scores, order) }
            batch.hasBids = false
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions(objective = Objective.EXPECTED_VALUE), scores, order) }
            // A bid is a candidate's value: a bad one is BAD_FEATURE, like a bad feature.
            batch.setBid(0, -1f)
            expect(Status.BAD_FEATURE) { s.rank(batch, RankOptions(objective = Objective.EXPECTED_VALUE), scores, order) }
            batch.setBid(0, Float.POSITIVE_INFINITY)
            expect(Status.BAD_FEATURE) { s.rank(batch, RankOptions(objective = Objective.EXPECTED_VALUE), scores, order) }
            batch.setBid(0, 1f)
            batch.setTask(0, model.tasks.size)
            expect(Status.BAD_FEATURE) { s.rank(batch, RankOptions.DEFAULT, scores, order) }
            untouched()
        }
    }

    @Test
    fun batchShapeErrors() = Model.load(Sample.modelPath).use { model ->
        val requestField = model.fields.first { it.side == Side.REQUEST && it.kind == FieldKind.CATEGORICAL }
        val dense = model.fields.first { it.side == Side.CANDIDATE && it.kind == FieldKind.DENSE }
        Session(model, 4).use { s ->
            s.setRequest(Sample.request(model))
            val scores = FloatArray(4)
            val order = IntArray(4)
            val batch = CandidateBatch(4)
            val text = batch.textColumn(dense.index)
            val ids = batch.idColumn(requestField.index)
            expect(Status.INVALID_ARGUMENT) { batch.setText(text, 1, "row 1 before row 0") }
            expect(Status.INVALID_ARGUMENT) { batch.setId(text, 0, 1) } // a text column
            expect(Status.INVALID_ARGUMENT) { batch.setDense(9, 0, 1f) } // no such column
            expect(Status.INVALID_ARGUMENT) { batch.setId(ids, 4, 1) } // past the capacity
            expect(Status.INVALID_ARGUMENT) { batch.size = 5 }
            batch.size = 1
            expect(Status.INVALID_ARGUMENT) { s.rank(batch, RankOptions.DEFAULT, scores, order) } // text row 0 not set
            batch.setText(text, 0, "x")
            expect(Status.BAD_FEATURE) { s.rank(batch, RankOptions.DEFAULT, scores, order) } // request field; text for a dense field
            val field = model.fields.first { it.side == Side.CANDIDATE && it.kind == FieldKind.CATEGORICAL }.index
            val twice = CandidateBatch(1).apply { size = 1; idColumn(field); idColumn(field) }
            expect(Status.BAD_FEATURE) { s.rank(twice, RankOptions.DEFAULT, scores, order) }
        }
    }

    @Test
    fun useAfterCloseThrowsAndClosingTwiceIsSafe() {
        val model = Model.load(Sample.modelPath)
        val batch = Sample.batch(model)
        val session = Session(model, batch.size)
        session.setRequest(Sample.request(model))
        model.close()
        model.close()
        expect(Status.NULL_ARGUMENT) { Session(model, 4) }
        expect(Status.NULL_ARGUMENT) { model.hash("x") }
        // The session holds the native model: it still ranks.
        val scores = FloatArray(batch.size)
        val order = IntArray(batch.size)
        assertEquals(batch.size, session.rank(batch, RankOptions.DEFAULT, scores, order))
        session.close()
        session.close()
        expect(Status.NULL_ARGUMENT) { session.rank(batch, RankOptions.DEFAULT, scores, order) }
        expect(Status.NULL_ARGUMENT) { session.setRequest(Sample.request(Model.load(Sample.modelPath))) }
    }

    @Test
    fun aPanicInTheGlueBecomesAnException() {
        val e = expect(Status.PANIC) { Model.panicForTest() }
        assertTrue("deliberate panic" in e.message!!, e.message)
        // The JVM and the library carry on.
        Model.load(Sample.modelPath).use { assertEquals(Sample.expected, Sample.rank(it, Sample.batch(it))) }
    }
}
