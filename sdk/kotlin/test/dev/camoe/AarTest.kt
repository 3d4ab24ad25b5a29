// The AAR (sdk/kotlin/aar.sh) has Android's layout, libraries of the right ABIs, and classes that load on the JVM.
package dev.camoe

import java.io.File
import java.net.URLClassLoader
import java.util.zip.ZipFile
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class AarTest {
    @Test
    fun layoutAbisAndClasses(@TempDir dir: File) {
        val path = System.getProperty("camoe.aar")
        assumeTrue(path != null, "no AAR given (sdk/kotlin/android.sh builds one and runs this test)")
        ZipFile(path).use { aar ->
            val names = aar.entries().asSequence().filter { !it.isDirectory }.map { it.name }.toSet()
            val libs = mapOf("jni/arm64-v8a/libcamoe_jni.so" to 183, "jni/x86_64/libcamoe_jni.so" to 62) // ELF e_machine
            assertEquals(setOf("AndroidManifest.xml", "classes.jar", "R.txt") + libs.keys, names)
            assertTrue("package=\"dev.camoe\"" in aar.getInputStream(aar.getEntry("AndroidManifest.xml")).reader().readText())
            for ((lib, machine) in libs) {
                val head = aar.getInputStream(aar.getEntry(lib)).readNBytes(20)
                assertEquals("\u007fELF", String(head, 0, 4, Charsets.ISO_8859_1), lib)
                assertEquals(2, head[4].toInt(), "$lib: not 64-bit")
                assertEquals(machine, (head[18].toInt() and 0xff) or ((head[19].toInt() and 0xff) shl 8), lib)
            }
            val classes = File(dir, "classes.jar")
            aar.getInputStream(aar.getEntry("classes.jar")).use { input -> classes.outputStream().use { input.copyTo(it) } }
            val stdlib = File(System.getProperty("camoe.stdlib"))
            // A loader of its own (not this test's classpath), without initializing: Native's
            // initializer would load the host library a second time.
            URLClassLoader(arrayOf(classes.toURI().toURL(), stdlib.toURI().toURL()), null).use { loader ->
                val names = ZipFile(classes).use { jar ->
                    jar.entries().asSequence().map { it.name }.filter { it.endsWith(".class") }
                        .map { it.removeSuffix(".class").replace('/', '.') }.toList()
                }
                for (name in listOf("dev.camoe.Model", "dev.camoe.Session", "dev.camoe.CandidateBatch", "dev.camoe.CamoeException")) {
                    assertTrue(name in names, "classes.jar lacks $name")
                }
                for (name in names) assertEquals(name, Class.forName(name, false, loader).name)
                // Linking works too: the exception class's methods resolve against the stdlib.
                val status = Class.forName("dev.camoe.Status", true, loader)
                assertEquals("BAD_MODEL", status.enumConstants.map { it.toString() }.first { it == "BAD_MODEL" })
            }
        }
    }
}
