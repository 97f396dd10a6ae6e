/*
 * Firmware test program: reads little-endian int16 values from the file named
 * by argv[1] through semihosting and writes their statistics to argv[2]:
 *
 *   uint32 count, int64 sum, int64 sum of squares, uint64 hash, float32 mean
 *
 * The hash (h = h * 1099511628211 + (uint16)v, modulo 2^64) exercises 64-bit
 * multiplication; the mean exercises the FPU where there is one. Exit codes:
 * 0 success, 2 bad arguments, 3 unreadable input, 4 unwritable output.
 */
#include <stdint.h>
#include <stdio.h>

#define CHUNK 64

struct stats {
    uint32_t count;
    int64_t sum;
    int64_t sum_of_squares;
    uint64_t hash;
};

static void add_values(struct stats *s, const int16_t *values, size_t n)
{
    size_t i;

    for (i = 0; i < n; ++i) {
        const int64_t v = values[i];
        s->count += 1;
        s->sum += v;
        s->sum_of_squares += v * v;
        s->hash = s->hash * 1099511628211ull + (uint16_t)values[i];
    }
}

int main(int argc, char **argv)
{
    struct stats s = {0, 0, 0, 14695981039346656037ull};
    int16_t chunk[CHUNK];
    size_t n;
    float mean;
    FILE *in;
    FILE *out;
    int ok;

    if (argc != 3) {
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL) {
        return 3;
    }
    while ((n = fread(chunk, sizeof chunk[0], CHUNK, in)) > 0) {
        add_values(&s, chunk, n);
    }
    fclose(in);
    mean = s.count > 0 ? (float)s.sum / (float)s.count : 0.0f;

    out = fopen(argv[2], "wb");
    if (out == NULL) {
        return 4;
    }
    ok = fwrite(&s.count, sizeof s.count, 1, out) == 1 && fwrite(&s.sum, sizeof s.sum, 1, out) == 1 &&
         fwrite(&s.sum_of_squares, sizeof s.sum_of_squares, 1, out) == 1 &&
         fwrite(&s.hash, sizeof s.hash, 1, out) == 1 && fwrite(&mean, sizeof mean, 1, out) == 1;
    if (fclose(out) != 0 || !ok) {
        return 4;
    }
    printf("sum_int16: %lu values\n", (unsigned long)s.count);
    return 0;
}
