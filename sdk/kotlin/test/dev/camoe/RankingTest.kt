// The JNI ranking equals the Rust API's bit for bit, whichever way the model is loaded and the batch is built.
package dev.camoe

import java.io.File
import java.io.FileInputStream
import java.io.RandomAccessFile
import java.nio.ByteBuffer
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class RankingTest {
    @Test
    fun textColumnsRankAsTheRustApiBitForBit() = Model.load(Sample.modelPath).use { model ->
        val batch = Sample.batch(model, asText = Sample.textFieldNames(model))
        assertEquals(Sample.expected, Sample.rank(model, batch))
    }

    @Test
    fun hashedIdColumnsRankAsText() = Model.load(Sample.modelPath).use { model ->
        assertEquals(Sample.expected, Sample.rank(model, Sample.batch(model)))
    }

    @Test
    fun aByteBufferAndAFileDescriptorLoadTheSameModel(@TempDir dir: File) {
        val bytes = File(Sample.modelPath).readBytes()
        val direct = ByteBuffer.allocateDirect(bytes.size + 10).position(3)
        direct.put(bytes).flip().position(3)
        Model.fromByteBuffer(direct).use { assertEquals(Sample.expected, Sample.rank(it, Sample.batch(it))) }
        assertEquals(3, direct.position()) // the caller's buffer is not consumed
        Model.fromByteBuffer(ByteBuffer.wrap(bytes)).use {
            assertEquals(Sample.expected, Sample.rank(it, Sample.batch(it)))
        }
        // An asset inside a bigger file, as an APK holds an uncompressed asset.
        val packed = File(dir, "packed.bin")
        packed.writeBytes(ByteArray(4099) { 7 } + bytes + ByteArray(100) { 9 })
        FileInputStream(packed).use { input ->
            input.skip(17)
            Model.fromFileDescriptor(input.fd, 4099, bytes.size.toLong()).use {
                assertEquals(Sample.expected, Sample.rank(it, Sample.batch(it)))
            }
            assertEquals(17L, input.channel.position()) // the caller's descriptor is untouched
            assertEquals(7, input.read())
        }
    }

    @Test
    fun modelInfoMatchesCamoeRank() = Model.load(Sample.modelPath).use { model ->
        val header = Regex("""model (\S+) \((\w+), \d+ bytes, (\d+) fields, (\d+) tasks""")
            .find(Sample.rankHeader) ?: error("unexpected camoe-rank header: ${Sample.rankHeader}")
        val (name, mode, fields, tasks) = header.destructured
        assertEquals(name, model.name)
        assertEquals(mode.uppercase(), model.mode.name)
        assertEquals(fields.toInt(), model.fields.size)
        assertEquals(tasks.toInt(), model.tasks.size)
        model.fields.forEachIndexed { i, f -> assertEquals(i, model.fieldIndex(f.name)) }
        for ((k, _) in Sample.lines.first { it.kind == "request" }.pairs) assertEquals(Side.REQUEST, model.field(k).side)
        for (line in Sample.candidates) {
            val task = model.tasks[model.taskIndex(line.value("task")!!)]
            // The demo's placements are named after their tasks, with the task's format.
            assertEquals(line.value("ad_format"), model.formats[task.format])
            assertTrue(task.group in model.groups.indices)
        }
    }

    @Test
    fun optionsSelectAndOrder() = Model.load(Sample.modelPath).use { model ->
        val batch = Sample.batch(model)
        val n = batch.size
        Session(model, n).use { s ->
            s.setRequest(Sample.request(model))
            val scores = FloatArray(n)
            val order = IntArray(n)
            val audio = 1 shl model.formatIndex("audio")
            val k = s.rank(batch, RankOptions(eligibleFormats = audio), scores, order)
            val isAudio = (0 until n).map { model.formats[model.tasks[batch.tasks[it]].format] == "audio" }
            assertEquals(isAudio.count { it }, k)
            (0 until n).forEach { assertEquals(!isAudio[it], scores[it].isNaN()) }
            val top = s.rank(batch, RankOptions(topK = 3, objective = Objective.EXPECTED_VALUE), scores, order)
            assertEquals(3, top)
            val ev = (0 until n).map { batch.bids[it] * scores[it] }
            assertEquals((0 until n).sortedWith(compareByDescending<Int> { ev[it] }.thenBy { it }).take(3), order.take(3))
            // An order array shorter than the batch receives the best ones.
            val short = IntArray(2)
            assertEquals(2, s.rank(batch, RankOptions.DEFAULT, scores, short))
            assertEquals(Sample.expected.take(2).map { it.first }, short.toList())
        }
    }

    @Test
    fun missingFlagsRankAsALeftOutField() = Model.load(Sample.modelPath).use { model ->
        for (kind in FieldKind.values()) {
            val optional = model.fields.first { it.side == Side.CANDIDATE && !it.required && it.kind == kind }
            val flagged = Sample.batch(model)
            val column = (0 until flagged.columns).first { flagged.columnFields[it] == optional.index }
            for (row in 0 until flagged.size) flagged.setMissing(column, row)
            val without = Sample.batch(model, skip = setOf(optional.name))
            assertEquals(Sample.rank(model, without), Sample.rank(model, flagged))
            assertTrue(Sample.expected != Sample.rank(model, flagged), "flags on ${optional.name} change no score")
            flagged.clear() // clears the flags too
            flagged.size = without.size
            assertEquals(Sample.expected, Sample.rank(model, flagged))
        }
    }
}
