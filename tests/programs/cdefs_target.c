/* A record with a layout a script re-declares in C: padding after a char, a bitfield
 * pair, a nested array and a pointer. `rt_take` is called once per record so a uprobe
 * can read the fields through the script's own `struct rec` definition. */
#include <stdio.h>
#include <string.h>

struct inner {
    short a;
    int b;
};

struct rec {
    char tag;
    long value;
    unsigned int low : 3, high : 9;
    struct inner pairs[2];
    char name[6];
    const char *label;
};

__attribute__((noinline)) int rt_take(struct rec *r)
{
    __asm__ volatile("" ::"r"(r) : "memory");
    return r->tag;
}

int main(void)
{
    struct rec r;
    for (int i = 1; i <= 3; i++) {
        memset(&r, 0, sizeof r);
        r.tag = 'a' + i;
        r.value = -1000L * i;
        r.low = i;
        r.high = 100 + i;
        r.pairs[1].a = (short)(-7 * i);
        r.pairs[1].b = 70000 * i;
        snprintf(r.name, sizeof r.name, "n%d", i);
        r.label = i % 2 ? "odd" : "even";
        rt_take(&r);
    }
    printf("done %zu\n", sizeof r);
    return 0;
}
