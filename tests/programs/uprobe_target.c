/* uprobe test program for rtrace's tests.
 *
 * Usage: uprobe_target [N]   (N defaults to 3)
 * Waits for one line on stdin (so a tracer can attach first) unless stdin is
 * /dev/null-like EOF, then calls each function N times with known arguments
 * and prints "done".
 *   rt_add(i, 10 * i)          returns 11 * i
 *   rt_negate(-i)              returns i (argument is negative)
 *   rt_greet("rtrace-<i>", i)  returns the length of the name
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) long rt_add(long a, long b) {
    __asm__ volatile("" ::: "memory");
    return a + b;
}

__attribute__((noinline)) long rt_negate(long v) {
    __asm__ volatile("" ::: "memory");
    return -v;
}

__attribute__((noinline)) int rt_greet(const char *name, int times) {
    __asm__ volatile("" ::: "memory");
    return (int)strlen(name) + times - times;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 3;
    char line[16];
    char name[32];
    long total = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (fgets(line, sizeof line, stdin) == NULL) {
        /* EOF: run at once (used with rtrace -c). */
    }
    for (long i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "rtrace-%ld", i);
        total += rt_add(i, 10 * i);
        total += rt_negate(-i);
        total += rt_greet(name, (int)i);
    }
    printf("done %ld\n", total);
    return 0;
}
