/*
 * Bench fixture for the instruction counter: runs `bench_steps` steps of a
 * small workload. bench_steps is patched in the ELF image before each run, so
 * every count comes from the same machine code. The work per step (integer,
 * plus single-precision float on cores with an FPU, which checks the FPU
 * works under the counter) does not depend on the data, and the loop has no
 * set-up that zero steps would skip (step() itself decides when to stop), so
 * the count is exactly linear in the steps.
 * A non-zero bench_exit_code (patched too) ends the run through exit(); it
 * is placed in .data because a patched .bss variable would be cleared at reset.
 */
#include <stdint.h>
#include <stdlib.h>

volatile uint32_t bench_steps = 1;
volatile uint32_t bench_sink;
volatile int32_t bench_exit_code __attribute__((section(".data"))) = 0;

static uint32_t state = 12345u;
#ifdef __ARM_FP
static float level = 1.0f;
#endif

/* One step of work, or 0 when none are left. */
__attribute__((noinline)) static int step(void)
{
    if (bench_steps == 0) {
        return 0;
    }
    bench_steps = bench_steps - 1;
    state = state * 1664525u + 1013904223u;
    state ^= state >> 13;
#ifdef __ARM_FP
    level = level * 0.5f + (float)(state & 0xFFu);
#endif
    return 1;
}

int main(void)
{
    while (step()) {
        /* all work is in step() */
    }
    bench_sink = state;
#ifdef __ARM_FP
    bench_sink ^= (uint32_t)level;
#endif
    if (bench_exit_code != 0) {
        exit(bench_exit_code);
    }
    return 0;
}
