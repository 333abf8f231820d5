/* USDT test program for rtrace's tests.
 *
 * Reads commands from stdin, one per line, and answers on stdout:
 *   fire N  fires every probe N times (loop counter i = 1..N), prints "fired N"
 *   sem     prints "sem <value of the tick probe's semaphore>"
 *   quit    exits
 * The probes cover every argument location x86-64 compilers emit: registers
 * (full and sub-registers), stack memory, immediates and rip-relative globals.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Semaphores, raised by the kernel while a probe is traced. Only tick's
 * guards its probe; the others exist because every probe of a file built with
 * _SDT_HAS_SEMAPHORES has one. */
unsigned short rtrace_test_tick_semaphore __attribute__((section(".probes")));
unsigned short rtrace_test_locations_semaphore __attribute__((section(".probes")));
unsigned short rtrace_test_narrow_semaphore __attribute__((section(".probes")));

long global_counter = 1000;
signed char global_small = -7;
static const char message[] = "hello usdt";

__attribute__((noinline)) static void fire(long i) {
    volatile int stack_value = (int)(-i * 3);
    short s = (short)(i * 100);
    char c = (char)('a' + i);
    global_counter += 1;
    if (rtrace_test_tick_semaphore) {
        /* tick: the loop counter, a negative int, a string pointer. */
        STAP_PROBE3(rtrace_test, tick, i, (int)(-i), message);
    }
    /* Locations: immediate, stack memory, rip-relative globals. */
    STAP_PROBE4(rtrace_test, locations, 42, stack_value, global_counter, global_small);
    /* Narrow registers: a short and a char. */
    STAP_PROBE2(rtrace_test, narrow, s, c);
}

int main(void) {
    char line[128];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "fire ", 5) == 0) {
            long n = strtol(line + 5, NULL, 10);
            for (long i = 1; i <= n; i++)
                fire(i);
            printf("fired %ld\n", n);
        } else if (strncmp(line, "sem", 3) == 0) {
            printf("sem %u\n", (unsigned)rtrace_test_tick_semaphore);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    return 0;
}
