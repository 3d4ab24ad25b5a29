#!/usr/bin/env bash
# Assembles the Android library archive: AndroidManifest.xml, classes.jar (the SDK's
# classes; apps bring kotlin-stdlib), an empty R.txt, and jni/<abi>/libcamoe_jni.so.
#   sdk/kotlin/aar.sh CLASSES.jar JNI_DIR OUT.aar     (JNI_DIR holds arm64-v8a/ and x86_64/)
set -euo pipefail
classes=$(realpath "$1"); jni=$(realpath "$2"); aar=$(realpath -m "$3")
for abi in arm64-v8a x86_64; do
    [ -f "$jni/$abi/libcamoe_jni.so" ] || { echo "missing $jni/$abi/libcamoe_jni.so"; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# minSdk 33: the SDK's safety net is java.lang.ref.Cleaner (API 33).
cat > "$stage/AndroidManifest.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.camoe">
    <uses-sdk android:minSdkVersion="33" />
</manifest>
XML
cp "$classes" "$stage/classes.jar"
: > "$stage/R.txt"
for abi in arm64-v8a x86_64; do
    mkdir -p "$stage/jni/$abi"
    cp "$jni/$abi/libcamoe_jni.so" "$stage/jni/$abi/"
done
rm -f "$aar"
(cd "$stage" && jar --create --no-manifest --file "$aar" AndroidManifest.xml classes.jar R.txt jni)
echo "$aar"
