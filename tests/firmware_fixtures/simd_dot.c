/*
 * Firmware test program: an int8 dot product computed with the widest SIMD the
 * core has (MVE on Cortex-M55, the DSP extension's SMLAD on M4/M7/M33, plain C
 * otherwise) and checked against plain C. Prints which path ran, so the test
 * can compare it with the target table, and exits 0 when the results agree.
 */
#include <stdint.h>
#include <stdio.h>

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#define PATH "mve"
#elif defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define PATH "dsp"
#else
#define PATH "scalar"
#endif

#define N 64

/* Read at run time so the compiler cannot work the products out itself. */
volatile int32_t dot_seed = 37;

static int32_t dot_scalar(const int8_t *a, const int8_t *b)
{
    int32_t sum = 0;
    int i;

    for (i = 0; i < N; ++i) {
        sum += a[i] * b[i];
    }
    return sum;
}

static int32_t dot_simd(const int8_t *a, const int8_t *b)
{
#if defined(__ARM_FEATURE_MVE)
    int32_t sum = 0;
    int i;

    for (i = 0; i < N; i += 16) {
        sum = vmladavaq_s8(sum, vld1q_s8(a + i), vld1q_s8(b + i));
    }
    return sum;
#elif defined(__ARM_FEATURE_DSP)
    int32_t sum = 0;
    int i;

    for (i = 0; i < N; i += 2) {
        /* Pairs of int8 widened to int16 lanes, multiplied and added at once. */
        const uint32_t x = (uint16_t)a[i] | ((uint32_t)(uint16_t)a[i + 1] << 16);
        const uint32_t y = (uint16_t)b[i] | ((uint32_t)(uint16_t)b[i + 1] << 16);
        sum = __smlad(x, y, sum);
    }
    return sum;
#else
    return dot_scalar(a, b);
#endif
}

int main(void)
{
    int8_t a[N];
    int8_t b[N];
    int32_t simd;
    int32_t scalar;
    int i;

    for (i = 0; i < N; ++i) {
        a[i] = (int8_t)(i * dot_seed - 128);
        b[i] = (int8_t)(101 - i * (dot_seed - 24));
    }
    simd = dot_simd(a, b);
    scalar = dot_scalar(a, b);
    printf("%s %ld %ld\n", PATH, (long)simd, (long)scalar);
    return simd == scalar ? 0 : 1;
}
