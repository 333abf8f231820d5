/* Calls rt_lib_fire(1..N) from libusdt_lib.so once a line arrives on stdin
 * (EOF also starts it), then prints "done". Usage: usdt_lib_user [N] */
#include <stdio.h>
#include <stdlib.h>

long rt_lib_fire(long i);

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 3;
    char line[16];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (fgets(line, sizeof line, stdin) == NULL) {
        /* EOF: run at once. */
    }
    for (long i = 1; i <= n; i++)
        rt_lib_fire(i);
    printf("done\n");
    return 0;
}
