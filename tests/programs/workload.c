/* A workload with exactly known kernel events, for rtrace's tests.
 * Usage: workload PAGES CALLS BUSY_MS
 *   touches PAGES fresh anonymous pages (one page fault each, at least),
 *   makes CALLS getppid() system calls (syscall number 110 on x86-64),
 *   then spins on the CPU for BUSY_MS milliseconds and prints "done". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    long pages = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long calls = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long busy = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    long page = sysconf(_SC_PAGESIZE);
    if (pages > 0) {
        volatile char *mem = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return 1;
        for (long i = 0; i < pages; i++)
            mem[i * page] = 1;
    }
    for (long i = 0; i < calls; i++)
        syscall(SYS_getppid);
    double end = now_ms() + busy;
    volatile unsigned long spin = 0;
    while (now_ms() < end)
        spin++;
    printf("done\n");
    return 0;
}
