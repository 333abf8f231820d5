/* A shared library with a USDT probe (no semaphore), for rtrace's tests of
 * probes in libraries: rt_lib_fire(i) fires rtrace_lib:fire with i and i * i. */
#include <sys/sdt.h>

__attribute__((noinline)) long rt_lib_fire(long i) {
    long square = i * i;
    STAP_PROBE2(rtrace_lib, fire, i, square);
    return square;
}
