/*
 * Bare-metal start-up for any Cortex-M (ARMv6-M to ARMv8.1-M): the vector
 * table, the reset handler and fault handlers that end an emulator run with a
 * distinctive exit code instead of hanging.
 *
 * Three builds:
 *  - normal (default): newlib with rdimon semihosting, so main() can fopen,
 *    fread, fwrite and printf host files, and exit(code) stops QEMU with that
 *    code. main(argc, argv) gets the semihosting command line (under QEMU the
 *    -kernel file name, then each -semihosting-config arg= value). Link with
 *    --specs=rdimon.specs.
 *  - bench (-DEDGEGRU_BENCH): no C library start-up and no semihosting before
 *    main() returns, so an instruction counter sees only the program's own
 *    work; main(0, {NULL})'s return value ends the run through one
 *    semihosting call. Link with --specs=nosys.specs -nostartfiles.
 *  - board (-DEDGEGRU_BOARD): no semihosting at all, for a board without a
 *    debugger. The board provides edgegru_board_write() (a UART, say), which
 *    receives fault reports; when main() returns the core sleeps, or with
 *    -DEDGEGRU_RESET_AT_EXIT requests a system reset (QEMU's -no-reboot turns
 *    that into an exit). Link with --specs=nosys.specs -nostartfiles.
 *
 * The linker script edgegru_cortex_m.ld provides the symbols used below.
 */
#include <stdint.h>

#include "edgegru_semihost.h"

/* Either form of main works: on Arm a main(void) simply ignores r0 and r1. */
int main(int argc, char **argv);

#if !defined(EDGEGRU_BENCH) && !defined(EDGEGRU_BOARD)
#include <stdlib.h>
void initialise_monitor_handles(void); /* newlib rdimon: opens stdin/out/err */
void __libc_init_array(void);          /* newlib: runs constructors */
#endif
#ifdef EDGEGRU_BOARD
/* The board's output for fault reports (a UART, say): provided by the board's code. */
void edgegru_board_write(const char *text);
#endif

/* From the linker script. */
extern uint32_t __edgegru_data_load[];
extern uint32_t __edgegru_data_start[];
extern uint32_t __edgegru_data_end[];
extern uint32_t __edgegru_bss_start[];
extern uint32_t __edgegru_bss_end[];
extern uint32_t __edgegru_stack_top[];

/* System Control Block registers (same address on every Cortex-M). */
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__)
#define HAS_CONFIGURABLE_FAULTS 1
#endif

/* Run main() and end the program with its result; see the top of this file. */
static void start_program(void) __attribute__((noreturn));
/* Report a fault (a one-line message) and stop with its exit code. */
static void report_and_stop(const char *message, int code) __attribute__((noreturn));

#ifdef EDGEGRU_BOARD
/* Stop for good: the program is over, or it crashed. */
static void board_stop(void) __attribute__((noreturn));

static void board_stop(void)
{
#ifdef EDGEGRU_RESET_AT_EXIT
    *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* AIRCR: VECTKEY, SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
#endif
    for (;;) {
        __asm__ volatile("wfi");
    }
}

static void start_program(void)
{
    char *argv[1] = {0};
    (void)main(0, argv);
    board_stop();
}

static void report_and_stop(const char *message, int code)
{
    (void)code; /* no host to receive it */
    edgegru_board_write(message);
    board_stop();
}
#else
static void report_and_stop(const char *message, int code)
{
    edgegru_semihost_write0(message);
    edgegru_semihost_exit(code);
}

#ifdef EDGEGRU_BENCH
static void start_program(void)
{
    char *argv[1] = {0};
    edgegru_semihost_exit(main(0, argv));
}

/*
 * A bench build links without the C run-time's start files (which define
 * _init and _fini) and with libnosys, whose _exit spins forever. These three
 * let exit() work there too: there are no constructors or destructors to run,
 * and _exit stops the run with the exit code.
 */
void _init(void);
void _fini(void);
void _exit(int code);

void _init(void)
{
}

void _fini(void)
{
}

void _exit(int code)
{
    edgegru_semihost_exit(code);
}
#else
static void start_program(void)
{
    static char command_line[EDGEGRU_COMMAND_LINE_SIZE];
    static char *argv[EDGEGRU_MAX_ARGS + 1];
    int argc;

    initialise_monitor_handles();
    __libc_init_array();
    argc = edgegru_semihost_args(command_line, sizeof command_line, argv, EDGEGRU_MAX_ARGS);
    if (argc < 0) {
        /* No command line from the host (or too long): main gets none. */
        argc = 0;
        argv[0] = 0;
    }
    exit(main(argc, argv));
}
#endif
#endif

void Reset_Handler(void) __attribute__((noreturn));

void Reset_Handler(void)
{
    const uint32_t *src = __edgegru_data_load;
    uint32_t *dst;

    for (dst = __edgegru_data_start; dst < __edgegru_data_end; ++dst, ++src) {
        *dst = *src;
    }
    for (dst = __edgegru_bss_start; dst < __edgegru_bss_end; ++dst) {
        *dst = 0;
    }

#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to coprocessors 10 and 11 (the FPU and MVE); any floating
     * point instruction before this would fault. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#ifdef HAS_CONFIGURABLE_FAULTS
    /* Report MemManage, BusFault and UsageFault (and SecureFault on v8-M)
     * as themselves rather than all as HardFault: the exit code then says
     * what went wrong. */
    {
        uint32_t enable = (1u << 16) | (1u << 17) | (1u << 18);
#ifdef __ARM_ARCH_8M_MAIN__
        enable |= 1u << 19;
#endif
        SCB_SHCSR |= enable;
    }
#endif

    start_program();
}

/* Name each fault once: the reporter prints it and exits with its code. */
static const char *fault_name(int code)
{
    switch (code) {
    case EDGEGRU_EXIT_NMI:
        return "NMI";
    case EDGEGRU_EXIT_HARDFAULT:
        return "HardFault";
    case EDGEGRU_EXIT_MEMMANAGE:
        return "MemManage";
    case EDGEGRU_EXIT_BUSFAULT:
        return "BusFault";
    case EDGEGRU_EXIT_USAGEFAULT:
        return "UsageFault";
    case EDGEGRU_EXIT_SECUREFAULT:
        return "SecureFault";
    default:
        return "unexpected exception";
    }
}

void edgegru_fault(const uint32_t *frame, int code) __attribute__((used, noreturn));

/*
 * Called by the handlers below with the exception stack frame, whose seventh
 * word is the faulting instruction's address. Formats by hand: the C library
 * may be what crashed.
 */
void edgegru_fault(const uint32_t *frame, int code)
{
    static const char digits[] = "0123456789abcdef";
    char message[80] = "edgegru firmware: ";
    const char *name = fault_name(code);
    uint32_t pc = frame[6];
    unsigned n = 18;
    int shift;
    const char *at = " at pc=0x";

    while (*name != '\0') {
        message[n++] = *name++;
    }
    while (*at != '\0') {
        message[n++] = *at++;
    }
    for (shift = 28; shift >= 0; shift -= 4) {
        message[n++] = digits[(pc >> shift) & 0xFu];
    }
    message[n++] = '\n';
    message[n] = '\0';
    report_and_stop(message, code);
}

/*
 * Each handler passes the stack frame (main or process stack, whichever the
 * interrupted code used: bit 2 of the EXC_RETURN value in lr) and its exit
 * code to edgegru_fault. Written with ARMv6-M instructions so one source
 * serves every core.
 */
#define EDGEGRU_STR2(x) #x
#define EDGEGRU_STR(x) EDGEGRU_STR2(x)
#define EDGEGRU_FAULT_HANDLER(handler, code)                                                       \
    void handler(void) __attribute__((naked, weak));                                              \
    void handler(void)                                                                             \
    {                                                                                              \
        __asm__ volatile("movs r1, #" EDGEGRU_STR(code) "\n\t"                                   \
                         "mov r2, lr\n\t"                                                          \
                         "movs r3, #4\n\t"                                                         \
                         "tst r2, r3\n\t"                                                          \
                         "bne 1f\n\t"                                                              \
                         "mrs r0, msp\n\t"                                                         \
                         "b edgegru_fault\n"                                                       \
                         "1:\n\t"                                                                  \
                         "mrs r0, psp\n\t"                                                         \
                         "b edgegru_fault\n\t");                                                   \
    }

EDGEGRU_FAULT_HANDLER(NMI_Handler, EDGEGRU_EXIT_NMI)
EDGEGRU_FAULT_HANDLER(HardFault_Handler, EDGEGRU_EXIT_HARDFAULT)
EDGEGRU_FAULT_HANDLER(MemManage_Handler, EDGEGRU_EXIT_MEMMANAGE)
EDGEGRU_FAULT_HANDLER(BusFault_Handler, EDGEGRU_EXIT_BUSFAULT)
EDGEGRU_FAULT_HANDLER(UsageFault_Handler, EDGEGRU_EXIT_USAGEFAULT)
EDGEGRU_FAULT_HANDLER(SecureFault_Handler, EDGEGRU_EXIT_SECUREFAULT)
EDGEGRU_FAULT_HANDLER(Unexpected_Handler, EDGEGRU_EXIT_UNEXPECTED_EXCEPTION)

typedef void (*edgegru_handler)(void);

/*
 * The vector table: the initial stack pointer, then the 15 system exception
 * handlers. The harness enables no interrupts, so no external IRQ entries
 * follow; add them here (and their handlers) if your firmware needs them.
 */
struct edgegru_vector_table {
    const void *initial_stack;
    edgegru_handler system[15];
};

__attribute__((section(".vectors"), used))
const struct edgegru_vector_table edgegru_vectors = {
    __edgegru_stack_top,
    {
        Reset_Handler,
        NMI_Handler,
        HardFault_Handler,
        MemManage_Handler,   /* reserved on ARMv6-M */
        BusFault_Handler,    /* reserved on ARMv6-M */
        UsageFault_Handler,  /* reserved on ARMv6-M */
        SecureFault_Handler, /* ARMv8-M Mainline only */
        0,
        0,
        0,
        Unexpected_Handler, /* SVCall */
        Unexpected_Handler, /* DebugMonitor */
        0,
        Unexpected_Handler, /* PendSV */
        Unexpected_Handler, /* SysTick */
    },
};
