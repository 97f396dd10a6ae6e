/*
 * edgegru on an STM32F4 board, without a vendor HAL or a debugger: streams a
 * pseudo-random int8 input through an exported model (prefix "model"), times
 * every step with the Cortex-M4 cycle counter and prints the result over
 * USART2, which Nucleo boards route to the ST-LINK's virtual COM port
 * (115200 baud, 8N1). See README.md.
 */
#include <stdint.h>

#include "model.h"

/* STM32F4 registers (the same on F401, F405, F411 and F446). */
#define REG(address) (*(volatile uint32_t *)(address))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define USART2_SR REG(0x40004400u)
#define USART2_DR REG(0x40004404u)
#define USART2_BRR REG(0x40004408u)
#define USART2_CR1 REG(0x4000440Cu)

/* Cortex-M debug registers: the cycle counter (DWT) and its enable (DEMCR). */
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define STEPS 100

/* USART2 transmit on PA2 at 115200 baud from the 16 MHz HSI clock the chip resets to. */
static void uart_init(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOA clock */
    RCC_APB1ENR |= 1u << 17; /* USART2 clock */
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 4)) | (2u << 4); /* PA2: alternate function */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFu << 8)) | (7u << 8);  /* AF7: USART2_TX */
    USART2_BRR = 139;                                       /* 16 MHz / 115200 = 8 + 11/16 */
    USART2_CR1 = (1u << 13) | (1u << 3);                    /* UE, TE */
}

/* Also the start-up code's channel for fault reports (-DEDGEGRU_BOARD). */
void edgegru_board_write(const char *text)
{
    while (*text != '\0') {
        while ((USART2_SR & (1u << 7)) == 0) { /* TXE */
        }
        USART2_DR = (uint8_t)*text++;
    }
}

static void write_int(int32_t value)
{
    char text[12]; /* sign, 10 digits, terminator: filled from the end */
    int k = (int)sizeof text - 1;
    uint32_t magnitude = value < 0 ? 0u - (uint32_t)value : (uint32_t)value;

    text[k] = '\0';
    do {
        text[--k] = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (value < 0) {
        text[--k] = '-';
    }
    edgegru_board_write(&text[k]);
}

/* xorshift32: the same inputs on every run, and easy to reproduce on the host. */
static uint32_t random_state = 1u;

static int8_t next_input(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 17;
    random_state ^= random_state << 5;
    return (int8_t)(random_state >> 24);
}

int main(void)
{
    static model_state_t state; /* one per stream */
    int8_t x[MODEL_INPUT_SIZE];
    uint32_t total = 0, worst = 0;

    uart_init();
    DEMCR |= 1u << 24; /* TRCENA: the DWT works only with this set */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */

    model_reset(&state);
    for (int t = 0; t < STEPS; ++t) {
        for (int i = 0; i < MODEL_INPUT_SIZE; ++i) {
            x[i] = next_input();
        }
        const uint32_t start = DWT_CYCCNT;
        model_step(&state, x, NULL);
        const uint32_t cycles = DWT_CYCCNT - start;
        total += cycles;
        worst = cycles > worst ? cycles : worst;
    }

    edgegru_board_write("edgegru demo: ");
    write_int(STEPS);
    edgegru_board_write(" steps\r\n");
    if (total == 0) {
        edgegru_board_write("cycles per step: no cycle counter here (an emulator?)\r\n");
    } else {
        edgegru_board_write("cycles per step: mean ");
        write_int((int32_t)(total / STEPS));
        edgegru_board_write(", worst ");
        write_int((int32_t)worst);
        edgegru_board_write("\r\n");
    }
    edgegru_board_write("output:");
    const int32_t *out = model_output(&state);
    for (int c = 0; c < MODEL_OUTPUT_SIZE; ++c) {
        edgegru_board_write(" ");
        write_int(out[c]);
    }
    edgegru_board_write("\r\nlayer 0 state:");
    for (int j = 0; j < MODEL_HIDDEN_SIZE_0; ++j) {
        edgegru_board_write(" ");
        write_int(model_hidden(&state, 0)[j]);
    }
    edgegru_board_write("\r\ndone\r\n");
    return 0;
}
