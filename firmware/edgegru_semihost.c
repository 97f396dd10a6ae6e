/*
 * Raw semihosting calls: a BKPT 0xAB with the operation in r0 and its
 * argument in r1, which QEMU (or a debug probe) intercepts. See
 * edgegru_semihost.h for why the harness needs these besides newlib's rdimon.
 */
#include "edgegru_semihost.h"

#include <stdint.h>

enum {
    SYS_WRITE0 = 0x04,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT_EXTENDED = 0x20,
    ADP_STOPPED_APPLICATION_EXIT = 0x20026
};

static uint32_t semihost_call(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int edgegru_semihost_args(char *buffer, int size, char **argv, int max_args)
{
    uint32_t block[2] = {(uint32_t)(uintptr_t)buffer, (uint32_t)size};
    char *p = buffer;
    int argc = 0;

    if (semihost_call(SYS_GET_CMDLINE, block) != 0) {
        return -1;
    }
    buffer[block[1] < (uint32_t)size ? block[1] : (uint32_t)size - 1u] = '\0';
    while (*p != '\0') {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (argc == max_args) {
            return -1;
        }
        argv[argc++] = p;
        while (*p != '\0' && *p != ' ') {
            ++p;
        }
    }
    argv[argc] = 0;
    return argc;
}

void edgegru_semihost_write0(const char *text)
{
    (void)semihost_call(SYS_WRITE0, text);
}

void edgegru_semihost_exit(int code)
{
    /* The extended call carries the code itself; plain SYS_EXIT on 32-bit
     * Arm can only say "success" or "failure". */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)semihost_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
        /* Only reached without a semihosting host: stay here visibly. */
    }
}
