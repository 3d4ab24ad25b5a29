/* tu2.c: a second translation unit including camoe.h (no duplicate definitions). */
#include "camoe.h"

uint32_t second_unit_version(void);
uint32_t second_unit_version(void) { return camoe_abi_version(); }
