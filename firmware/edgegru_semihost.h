/*
 * Minimal Arm semihosting calls used by the edgegru firmware harness.
 *
 * Semihosting lets a bare-metal program ask the debugger or emulator (QEMU
 * here) to do things for it: print a string, or stop with an exit code. The
 * harness uses it directly only where newlib cannot help: reporting a fault,
 * where the heap and stdio may already be broken, and ending a "bench" build,
 * which links no semihosting library at all. Ordinary programs use fopen,
 * fread, fwrite and exit from newlib's rdimon library, which speaks the same
 * protocol.
 */
#ifndef EDGEGRU_SEMIHOST_H
#define EDGEGRU_SEMIHOST_H

/*
 * Exit codes that mean "the firmware crashed", one per exception. They are
 * well above the codes programs use for their own errors, so a test sees at
 * once that a fault, not a failed check, ended the run. edgegru's Python side
 * reads the EDGEGRU_ #define lines of this file: keep one per line, decimal.
 */
#define EDGEGRU_EXIT_NMI 240
#define EDGEGRU_EXIT_HARDFAULT 241
#define EDGEGRU_EXIT_MEMMANAGE 242
#define EDGEGRU_EXIT_BUSFAULT 243
#define EDGEGRU_EXIT_USAGEFAULT 244
#define EDGEGRU_EXIT_SECUREFAULT 245
#define EDGEGRU_EXIT_UNEXPECTED_EXCEPTION 246

/* Longest command line (with its final NUL) and most arguments for main(). */
#define EDGEGRU_COMMAND_LINE_SIZE 256
#define EDGEGRU_MAX_ARGS 16

/*
 * Split the program's command line (SYS_GET_CMDLINE: under QEMU the -kernel
 * file name, then the -semihosting-config arg= values) at spaces into
 * argv[0..argc-1], storing the text in `buffer`; argv must have room for
 * max_args + 1 pointers, as the list ends with a null pointer. Returns argc,
 * or -1 if the host has no command line or it does not fit.
 */
int edgegru_semihost_args(char *buffer, int size, char **argv, int max_args);

/* Write a NUL-terminated string to the host's console (SYS_WRITE0). */
void edgegru_semihost_write0(const char *text);

/*
 * Stop the emulator with `code` as its exit status (SYS_EXIT_EXTENDED with
 * reason ADP_Stopped_ApplicationExit). Never returns.
 */
void edgegru_semihost_exit(int code) __attribute__((noreturn));

#endif /* EDGEGRU_SEMIHOST_H */
