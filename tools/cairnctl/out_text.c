/* Text formatting the way etcdctl (Go) prints: %q quoting, --hex bytes, go-humanize sizes,
 * time.Duration strings and tablewriter tables. */
#include "ctl.h"

#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 sequence at p (n bytes left). Returns its length and the code point in
 * *cp, or 0 for an invalid sequence (Go's RuneError of width 1). */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
    CAIRN_ASSERT(n > 0);
    uint8_t b = p[0];
    size_t len;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        len = 2, c = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        len = 3, c = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        len = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Go's unicode.IsPrint, close enough for keys and names: C0/C1 controls, DEL, the line and
 * paragraph separators, soft hyphen and BOM are not printable. */
static int go_printable(uint32_t c)
{
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
        return 0;
    return c != 0xad && c != 0x2028 && c != 0x2029 && c != 0xfeff;
}

char *ctl_go_quote(const uint8_t *p, size_t n, char *out, size_t out_len)
{
    CAIRN_ASSERT(out != NULL && out_len >= 3);
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + o, out_len - o, __VA_ARGS__);                                      \
        o = (w_ < 0 || (size_t)w_ >= out_len - o) ? out_len - 1 : o + (size_t)w_;                  \
    } while (0)
    PUT("\"");
    for (size_t i = 0; i < n && o < out_len - 1;) {
        uint32_t c;
        size_t len = utf8_decode(p + i, n - i, &c);
        if (len == 0) {
            PUT("\\x%02x", p[i]);
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            PUT("\\%c", (char)c);
        else if (go_printable(c))
            PUT("%.*s", (int)len, (const char *)p + i);
        else if (c == '\a')
            PUT("\\a");
        else if (c == '\b')
            PUT("\\b");
        else if (c == '\f')
            PUT("\\f");
        else if (c == '\n')
            PUT("\\n");
        else if (c == '\r')
            PUT("\\r");
        else if (c == '\t')
            PUT("\\t");
        else if (c == '\v')
            PUT("\\v");
        else if (c < 0x20 || c == 0x7f)
            PUT("\\x%02x", c);
        else if (c < 0x10000)
            PUT("\\u%04x", c);
        else
            PUT("\\U%08x", c);
        i += len;
    }
    PUT("\"");
#undef PUT
    return out;
}

void ctl_print_bytes_line(FILE *out, const uint8_t *p, size_t n, int hex)
{
    CAIRN_ASSERT(out != NULL && (p != NULL || n == 0));
    if (hex) {
        for (size_t i = 0; i < n; i++)
            fprintf(out, "\\x%02x", p[i]);
    } else if (n > 0) {
        fwrite(p, 1, n, out);
    }
    fputc('\n', out);
}

char *ctl_humanize_bytes(uint64_t n, char *out, size_t out_len)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    CAIRN_ASSERT(out != NULL && out_len > 0);
    if (n < 10) {
        snprintf(out, out_len, "%llu B", (unsigned long long)n);
        return out;
    }
    /* go-humanize computes the exponent with logarithms; do the same so values at the unit
     * boundaries land where etcdctl puts them. */
    double ef = floor(log((double)n) / log(1000.0));
    size_t e = ef < 0 ? 0 : (size_t)ef;
    if (e >= CAIRN_ARRAY_LEN(units))
        e = CAIRN_ARRAY_LEN(units) - 1;
    double v = floor((double)n / pow(1000.0, (double)e) * 10 + 0.5) / 10;
    snprintf(out, out_len, v < 10 ? "%.1f %s" : "%.0f %s", v, units[e]);
    return out;
}

/* Go's fmtFrac + fmtInt for time.Duration.String(): value v with prec decimal digits of
 * which trailing zeros are dropped. */
static size_t fmt_frac_int(char *buf, size_t cap, uint64_t v, int prec)
{
    char digits[32];
    size_t nd = 0;
    int print = 0;
    for (int i = 0; i < prec; i++) {
        unsigned d = (unsigned)(v % 10);
        print = print || d != 0;
        if (print)
            digits[nd++] = (char)('0' + d);
        v /= 10;
    }
    if (print)
        digits[nd++] = '.';
    if (v == 0) {
        digits[nd++] = '0';
    } else {
        while (v > 0 && nd < sizeof(digits)) {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        }
    }
    size_t o = 0;
    while (nd > 0 && o + 1 < cap)
        buf[o++] = digits[--nd];
    buf[o] = '\0';
    return o;
}

char *ctl_go_duration(int64_t ns, char *out, size_t out_len)
{
    CAIRN_ASSERT(out != NULL && out_len >= 32);
    if (ns == 0) {
        snprintf(out, out_len, "0s");
        return out;
    }
    const char *sign = ns < 0 ? "-" : "";
    uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
    char num[40];
    if (u < 1000000000ull) {
        const char *unit;
        int prec;
        if (u < 1000) {
            unit = "ns", prec = 0;
        } else if (u < 1000000) {
            unit = "\xc2\xb5s", prec = 3; /* µs */
        } else {
            unit = "ms", prec = 6;
        }
        fmt_frac_int(num, sizeof(num), u, prec);
        snprintf(out, out_len, "%s%s%s", sign, num, unit);
        return out;
    }
    uint64_t secs_ns = u % 60000000000ull;
    uint64_t mins = u / 60000000000ull;
    fmt_frac_int(num, sizeof(num), secs_ns, 9);
    if (mins == 0)
        snprintf(out, out_len, "%s%ss", sign, num);
    else if (mins < 60)
        snprintf(out, out_len, "%s%llum%ss", sign, (unsigned long long)mins, num);
    else
        snprintf(out, out_len, "%s%lluh%llum%ss", sign, (unsigned long long)(mins / 60),
                 (unsigned long long)(mins % 60), num);
    return out;
}

/* ---- tables ----------------------------------------------------------------------------- */

#define TABLE_COLS_MAX   16
#define TABLE_ROWS_MAX   4096
#define TABLE_WRAP_WIDTH 30 /* tablewriter's MaxColWidth: longer cells wrap at spaces */
#define TABLE_LINES_MAX  64

struct ctl_table {
    size_t n_cols, n_rows;
    char *header[TABLE_COLS_MAX];
    char **rows[TABLE_ROWS_MAX];
};

static size_t display_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            w++;
    return w;
}

struct cell_lines {
    const char *start[TABLE_LINES_MAX];
    size_t len[TABLE_LINES_MAX];
    size_t n;
};

/* tablewriter's WrapString: greedy word wrap at limit (a longer word keeps its own line). */
static void wrap_cell(const char *s, struct cell_lines *out)
{
    out->n = 0;
    size_t total = strlen(s);
    if (display_width(s, total) <= TABLE_WRAP_WIDTH || !strchr(s, ' ')) {
        out->start[0] = s;
        out->len[0] = total;
        out->n = 1;
        return;
    }
    const char *p = s;
    const char *line = NULL;
    size_t line_w = 0;
    while (*p && out->n < TABLE_LINES_MAX) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t ww = display_width(w, (size_t)(p - w));
        if (line && line_w + 1 + ww <= TABLE_WRAP_WIDTH) {
            line_w += 1 + ww;
            out->len[out->n - 1] = (size_t)(p - line);
            continue;
        }
        line = w;
        line_w = ww;
        out->start[out->n] = w;
        out->len[out->n] = (size_t)(p - w);
        out->n++;
    }
    if (out->n == 0) {
        out->start[0] = s;
        out->len[0] = 0;
        out->n = 1;
    }
}

struct ctl_table *ctl_table_new(const char *const *header, size_t n_cols)
{
    CAIRN_ASSERT(n_cols > 0 && n_cols <= TABLE_COLS_MAX);
    struct ctl_table *t = calloc(1, sizeof(*t));
    CAIRN_ASSERT(t != NULL);
    t->n_cols = n_cols;
    for (size_t i = 0; i < n_cols; i++) {
        /* tablewriter's Title(): '_' becomes a space, upper case */
        t->header[i] = strdup(header[i]);
        CAIRN_ASSERT(t->header[i] != NULL);
        for (char *q = t->header[i]; *q; q++)
            *q = *q == '_' ? ' ' : (char)(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q);
    }
    return t;
}

void ctl_table_add(struct ctl_table *t, const char *const *row)
{
    CAIRN_ASSERT(t != NULL && row != NULL);
    if (t->n_rows == TABLE_ROWS_MAX)
        return; /* bounded: more rows than any cluster has members */
    char **r = calloc(t->n_cols, sizeof(*r));
    CAIRN_ASSERT(r != NULL);
    for (size_t i = 0; i < t->n_cols; i++) {
        r[i] = strdup(row[i] ? row[i] : "");
        CAIRN_ASSERT(r[i] != NULL);
    }
    t->rows[t->n_rows++] = r;
}

static void print_border(const struct ctl_table *t, const size_t *width, FILE *out)
{
    for (size_t c = 0; c < t->n_cols; c++) {
        fputc('+', out);
        for (size_t i = 0; i < width[c] + 2; i++)
            fputc('-', out);
    }
    fputs("+\n", out);
}

static void print_pad(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', out);
}

void ctl_table_print(struct ctl_table *t, FILE *out)
{
    CAIRN_ASSERT(t != NULL && out != NULL);
    size_t width[TABLE_COLS_MAX] = {0};
    struct cell_lines lines;
    for (size_t c = 0; c < t->n_cols; c++)
        width[c] = display_width(t->header[c], strlen(t->header[c]));
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            wrap_cell(t->rows[r][c], &lines);
            for (size_t l = 0; l < lines.n; l++) {
                size_t w = display_width(lines.start[l], lines.len[l]);
                width[c] = w > width[c] ? w : width[c];
            }
        }
    }
    print_border(t, width, out);
    for (size_t c = 0; c < t->n_cols; c++) { /* header: centred, the extra space right */
        size_t w = display_width(t->header[c], strlen(t->header[c]));
        size_t gap = width[c] - w;
        fputs("| ", out);
        print_pad(out, gap / 2);
        fputs(t->header[c], out);
        print_pad(out, gap - gap / 2);
        fputc(' ', out);
    }
    fputs("|\n", out);
    print_border(t, width, out);
    for (size_t r = 0; r < t->n_rows; r++) {
        struct cell_lines cl[TABLE_COLS_MAX];
        size_t height = 1;
        for (size_t c = 0; c < t->n_cols; c++) {
            wrap_cell(t->rows[r][c], &cl[c]);
            height = cl[c].n > height ? cl[c].n : height;
        }
        for (size_t l = 0; l < height; l++) {
            for (size_t c = 0; c < t->n_cols; c++) {
                const char *s = l < cl[c].n ? cl[c].start[l] : "";
                size_t n = l < cl[c].n ? cl[c].len[l] : 0;
                fputs("| ", out);
                print_pad(out, width[c] - display_width(s, n));
                fwrite(s, 1, n, out);
                fputc(' ', out);
            }
            fputs("|\n", out);
        }
    }
    print_border(t, width, out);
}

void ctl_table_free(struct ctl_table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (size_t c = 0; c < t->n_cols; c++)
        free(t->header[c]);
    free(t);
}
