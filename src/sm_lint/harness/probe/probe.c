/* sm-lint-probe: the HTTP client of `sm-lint run --profile inference|batch-transform`.
 *
 * SageMaker reaches a serving container over the network (GET /ping, POST /invocations on port
 * 8080). The harness does the same from a second container on the job's private network, so that
 * a remote engine (DOCKER_HOST=tcp:// or ssh://) works exactly as a local one: no published host
 * ports, no bind mounts, no tool needed in the image under test. This program is that second
 * container's only file (an image made FROM nothing by `docker import`); the harness runs it with
 * `docker exec`, one request per call, and reads one result line.
 *
 *   sm-lint-probe idle
 *       wait until killed (the container's main process; exec calls do the work)
 *   sm-lint-probe request METHOD ADDRESS PORT PATH TIMEOUT_MS [BODY_FILE [CONTENT_TYPE [ACCEPT]]]
 *       one HTTP/1.1 request to ADDRESS (IPv4, numeric: no resolver in a static binary);
 *       stdout: `result STATUS CONNECT_MS TOTAL_MS ERROR BODY_BYTES` then the first bytes of the body.
 *       STATUS is 0 when no status line came; ERROR is `-` or one of refused, unreachable,
 *       timeout, reset, closed, bad-response, bad-body-file. Times are measured here, inside
 *       the engine's network, from the start of the connect to the end of the response.
 *   sm-lint-probe listening
 *       the listening TCP sockets of the network namespace it runs in, one `ADDRESS:PORT` a line
 *       (from /proc/net/tcp and tcp6). Run in the served container's namespace
 *       (`--network container:ID`), it tells a server on the wrong port, or on 127.0.0.1 only.
 *   sm-lint-probe version
 *       the sha256 of this source file, stamped in at build time (scripts/build_probe.sh), so a
 *       test can prove the shipped binaries were built from this text.
 *
 * Built static (gcc -static) for linux/amd64 and linux/arm64 by scripts/build_probe.sh; the
 * binaries live in src/sm_lint/data/probe/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#define KEEP_BODY 65536           /* body bytes printed back: evidence, not the whole answer */
#define HEAD_MAX 65536            /* a status line and headers longer than this are a bad response */

static const char version_tag[] = "sm-lint-probe-source-sha256=" SOURCE_SHA256;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

static double started, deadline;
static int status_code;
static double connect_ms = -1;
static char *body_keep;
static size_t body_kept, body_total;

static void finish(const char *error) {
    printf("result %d %.1f %.1f %s %zu\n", status_code, connect_ms, now_ms() - started, error, body_total);
    if (body_kept)
        fwrite(body_keep, 1, body_kept, stdout);
    fflush(stdout);
    exit(0);
}

static const char *errno_word(int code) {
    switch (code) {
    case ECONNREFUSED: return "refused";
    case ENETUNREACH: case EHOSTUNREACH: return "unreachable";
    case ETIMEDOUT: return "timeout";
    case ECONNRESET: case EPIPE: return "reset";
    default: return "reset";
    }
}

/* Wait until fd is ready for `events` or the deadline passes (then: timeout). */
static void wait_for(int fd, short events) {
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0)
            finish("timeout");
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left + 1);
        if (n > 0)
            return;
        if (n < 0 && errno != EINTR)
            finish("reset");
    }
}

static void send_all(int fd, const char *data, size_t size) {
    while (size) {
        wait_for(fd, POLLOUT);
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            finish(errno_word(errno));
        }
        data += n;
        size -= (size_t)n;
    }
}

/* Read what is available; 0 at end of stream. */
static ssize_t receive(int fd, char *buffer, size_t size) {
    for (;;) {
        wait_for(fd, POLLIN);
        ssize_t n = recv(fd, buffer, size, 0);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EINTR)
            finish(errno_word(errno));
    }
}

static void keep(const char *data, size_t size) {
    body_total += size;
    size_t room = KEEP_BODY - body_kept;
    if (size > room)
        size = room;
    memcpy(body_keep + body_kept, data, size);
    body_kept += size;
}

static const char *header(const char *head, const char *name) {
    size_t length = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (!strncasecmp(start, name, length) && start[length] == ':') {
            start += length + 1;
            while (*start == ' ' || *start == '\t')
                start++;
            return start;
        }
    }
    return NULL;
}

static void request(int argc, char **argv) {
    const char *method = argv[2], *address = argv[3], *path = argv[5];
    int port = atoi(argv[4]);
    double timeout = atof(argv[6]);
    const char *body_file = argc > 7 && argv[7][0] ? argv[7] : NULL;
    const char *content_type = argc > 8 && argv[8][0] ? argv[8] : NULL;
    const char *accept = argc > 9 && argv[9][0] ? argv[9] : NULL;
    body_keep = malloc(KEEP_BODY);
    char *body = NULL;
    size_t body_size = 0;
    started = now_ms();
    deadline = started + timeout;
    if (body_file) {
        int in = open(body_file, O_RDONLY);
        struct stat info;
        if (in < 0 || fstat(in, &info) < 0)
            finish("bad-body-file");
        body_size = (size_t)info.st_size;
        body = malloc(body_size ? body_size : 1);
        for (size_t got = 0; got < body_size;) {
            ssize_t n = read(in, body + got, body_size - got);
            if (n <= 0)
                finish("bad-body-file");
            got += (size_t)n;
        }
        close(in);
    }
    struct sockaddr_in target = {0};
    target.sin_family = AF_INET;
    target.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, address, &target.sin_addr) != 1)
        finish("unreachable");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        finish("unreachable");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    started = now_ms();
    deadline = started + timeout;
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) {
        if (errno != EINPROGRESS)
            finish(errno_word(errno));
        wait_for(fd, POLLOUT);
        int problem = 0;
        socklen_t size = sizeof problem;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &problem, &size);
        if (problem)
            finish(errno_word(problem));
    }
    connect_ms = now_ms() - started;
    char head[2048];
    int length = snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: sm-lint-probe\r\nConnection: close\r\n",
                          method, path, address, port);
    if (content_type)
        length += snprintf(head + length, sizeof head - length, "Content-Type: %s\r\n", content_type);
    if (accept)
        length += snprintf(head + length, sizeof head - length, "Accept: %s\r\n", accept);
    if (body_file || strcmp(method, "POST") == 0)
        length += snprintf(head + length, sizeof head - length, "Content-Length: %zu\r\n", body_size);
    length += snprintf(head + length, sizeof head - length, "\r\n");
    send_all(fd, head, (size_t)length);
    if (body_size)
        send_all(fd, body, body_size);

    /* The status line and headers. */
    char *response = malloc(HEAD_MAX + 1);
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == HEAD_MAX)
            finish("bad-response");
        ssize_t n = receive(fd, response + have, HEAD_MAX - have);
        if (n == 0)
            finish(have ? "bad-response" : "closed");
        have += (size_t)n;
        response[have] = 0;
        end = strstr(response, "\r\n\r\n");
    }
    *end = 0;
    int major, minor;
    if (sscanf(response, "HTTP/%d.%d %d", &major, &minor, &status_code) != 3)
        finish("bad-response");
    char *rest = end + 4;
    size_t rest_size = have - (size_t)(rest - response);
    const char *length_header = header(response, "Content-Length");
    const char *encoding = header(response, "Transfer-Encoding");
    int chunked = encoding && !strncasecmp(encoding, "chunked", 7);
    long long expected = length_header && !chunked ? atoll(length_header) : -1;
    if (strcmp(method, "HEAD") == 0 || status_code == 204 || status_code == 304)
        expected = 0;
    /* The body: Content-Length bytes, a chunked body up to its last chunk ("\r\n0\r\n\r\n";
       trailers are not expected from a model server), or everything up to the close. */
    char tail[8] = {0};
    const char last_chunk[] = "\r\n0\r\n\r\n";
    char buffer[65536];
    char *data = rest;
    size_t size = rest_size;
    for (;;) {
        if (expected >= 0 && (long long)size > expected - (long long)body_total)
            size = (size_t)(expected - (long long)body_total);
        keep(data, size);
        if (chunked) {
            for (size_t i = 0; i < size; i++) {
                memmove(tail, tail + 1, 6);
                tail[6] = data[i];
            }
            if (memcmp(tail, last_chunk, 7) == 0 || (body_total == 5 && memcmp(tail + 2, last_chunk + 2, 5) == 0))
                finish("-");
        }
        if (expected >= 0 && (long long)body_total >= expected)
            finish("-");
        ssize_t n = receive(fd, buffer, sizeof buffer);
        if (n == 0) {
            if (expected >= 0 && (long long)body_total < expected)
                finish("closed");
            finish("-");
        }
        data = buffer;
        size = (size_t)n;
    }
}

static void listening(const char *table, int six) {
    FILE *in = fopen(table, "r");
    char line[512];
    if (!in)
        return;
    if (!fgets(line, sizeof line, in)) { /* the heading */
        fclose(in);
        return;
    }
    while (fgets(line, sizeof line, in)) {
        char local[64];
        unsigned port, state;
        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*64[0-9A-Fa-f]:%*x %x", local, &port, &state) != 3 || state != 0x0A)
            continue;
        char text[INET6_ADDRSTRLEN] = "?";
        if (!six) {
            struct in_addr address;
            address.s_addr = (in_addr_t)strtoul(local, NULL, 16); /* the kernel prints it in host order */
            inet_ntop(AF_INET, &address, text, sizeof text);
            printf("%s:%u\n", text, port);
        } else {
            struct in6_addr address;
            for (int word = 0; word < 4; word++) {
                char part[9];
                memcpy(part, local + word * 8, 8);
                part[8] = 0;
                unsigned int value = (unsigned int)strtoul(part, NULL, 16);
                memcpy(&address.s6_addr[word * 4], &value, 4);
            }
            inet_ntop(AF_INET6, &address, text, sizeof text);
            printf("[%s]:%u\n", text, port);
        }
    }
    fclose(in);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "idle") == 0) {
        signal(SIGTERM, SIG_DFL);
        for (;;)
            pause();
    }
    if (argc >= 2 && strcmp(argv[1], "listening") == 0) {
        listening("/proc/net/tcp", 0);
        listening("/proc/net/tcp6", 1);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        puts(version_tag + strlen("sm-lint-probe-source-sha256="));
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "request") == 0)
        request(argc, argv);
    fputs("usage: sm-lint-probe idle | version | listening | request METHOD ADDRESS PORT PATH TIMEOUT_MS "
          "[BODY_FILE [CONTENT_TYPE [ACCEPT]]]\n", stderr);
    return 2;
}
