/*
 * Firmware test program that goes wrong on purpose, chosen by argv[1]:
 *   undefined  executes a permanently undefined instruction (UDF); also what
 *              a bench build (which gets no arguments) does
 *   arm-jump   calls a function pointer without the Thumb bit, as a corrupted
 *              pointer would (Cortex-M cannot run ARM code)
 *   hang       loops forever
 *   exit       exits with code 5 through exit()
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

volatile uint32_t crash_spin;

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "undefined";

    if (strcmp(mode, "undefined") == 0) {
        __asm__ volatile("udf #7");
    } else if (strcmp(mode, "arm-jump") == 0) {
        void (*volatile target)(void) = (void (*)(void))(uintptr_t)0x100u;
        target();
    } else if (strcmp(mode, "hang") == 0) {
        for (;;) {
            crash_spin = crash_spin + 1u;
        }
    } else if (strcmp(mode, "exit") == 0) {
        exit(5);
    }
    return 2;
}
