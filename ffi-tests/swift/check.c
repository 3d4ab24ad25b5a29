/* Imports the CCamoe module the way Swift's Clang importer does (a module import, not a
   textual include: `#pragma clang module import` is C's spelling of `@import`) and
   calls through it; built by ffi-tests/swift/run.sh with clang
   -fmodules. Swift itself has no compiler on the test machine. */
#pragma clang module import CCamoe

#include <stdio.h>

int main(void) {
    camoe_model *model = NULL;
    camoe_status s = camoe_model_load_file("/nonexistent.camoe", &model);
    if (camoe_abi_version() != CAMOE_VERSION_NUMBER || s != CAMOE_STATUS_IO || model != NULL) {
        fprintf(stderr, "CCamoe module: unexpected results\n");
        return 1;
    }
    camoe_model_free(&model);
    printf("CCamoe module: imported and called (ABI %u, %s)\n", camoe_abi_version(), camoe_status_name(s));
    return 0;
}
