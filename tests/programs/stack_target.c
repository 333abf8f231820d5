/* Stack test program for rtrace's tests: a known call chain.
 *
 * Usage: stack_target [SLEEP_MS]
 * Calls main → st_outer → st_middle → st_inner once, where st_inner makes a
 * getpid() syscall, then sleeps SLEEP_MS milliseconds (default 0) and exits.
 * With 0 it exits right after the probed call, so a tracer must symbolize the
 * stack while (or before) the process goes away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

volatile long st_sink;

__attribute__((noinline)) long st_inner(long v) {
    st_sink = syscall(SYS_getpid);
    __asm__ volatile("" ::: "memory");
    return v + 1;
}

__attribute__((noinline)) long st_middle(long v) {
    long r = st_inner(v * 2);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

__attribute__((noinline)) long st_outer(long v) {
    long r = st_middle(v + 3);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

int main(int argc, char **argv) {
    long ms = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long r = st_outer(argc);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return (int)(r & 1);
}
