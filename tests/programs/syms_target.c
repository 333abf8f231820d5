/* Symbol test program for rtrace's tests: a function that takes a function
 * pointer, for usym(arg0), and a probed call for usym(reg("ip")).
 *
 * Usage: syms_target [SLEEP_MS]
 * Calls sy_apply(sy_double, argc) once, then sleeps SLEEP_MS milliseconds
 * (default 0) and exits.
 */
#include <stdlib.h>
#include <time.h>

volatile long sy_sink;

__attribute__((noinline)) long sy_double(long v) {
    __asm__ volatile("" ::: "memory");
    return v * 2;
}

__attribute__((noinline)) long sy_apply(long (*fn)(long), long v) {
    long r = fn(v);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

int main(int argc, char **argv) {
    long ms = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long (*volatile fn)(long) = sy_double;
    sy_sink = sy_apply(fn, argc);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}
