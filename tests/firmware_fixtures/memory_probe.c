/*
 * Firmware test program that checks a target's memory map is real: it writes
 * and reads back every word of free RAM (from the end of .bss, the linker's
 * `end`, to just below the stack) and reads the address given in argv[1]
 * (hex), the last word of FLASH. A region shorter than the map claims faults
 * (exit code 241 and up) instead of passing. Exit codes: 0 all good, 1 RAM
 * did not keep a value, 2 bad arguments.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t end[];

static uint32_t pattern(uintptr_t address)
{
    return (uint32_t)address * 2654435761u;
}

int main(int argc, char **argv)
{
    volatile uint32_t *word;
    volatile uint32_t *stack_floor = (volatile uint32_t *)((uintptr_t)&word - 1024u);
    uint32_t flash_word;

    if (argc != 2) {
        return 2;
    }
    flash_word = *(volatile const uint32_t *)(uintptr_t)strtoul(argv[1], NULL, 16);
    (void)flash_word;
    for (word = end; word < stack_floor; ++word) {
        *word = pattern((uintptr_t)word);
    }
    for (word = end; word < stack_floor; ++word) {
        if (*word != pattern((uintptr_t)word)) {
            return 1;
        }
    }
    return 0;
}
