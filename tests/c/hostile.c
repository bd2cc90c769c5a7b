/* Hostile use of include/kodo.h from C: every export called with NULL, forged, freed and
 * double-freed handles and strings, invalid UTF-8, malformed, unknown-version, deeply nested and
 * very large JSON, from several threads at once and from a thread-exit destructor. Each call
 * must return the status its doc comment in the header promises, with a message for an error
 * status and none for a success. Built with -std=c99 -Wall -Wextra -Werror -pedantic by
 * tests/c_header.rs (fast tier), for win-x64 (mingw, under wine64) and linux-arm64 (under
 * qemu-aarch64) by tests/cross/Invoke-CrossTests.ps1, and run under valgrind by
 * `build.ps1 -Task Reliability`.
 *
 * Environment: KODO_HOSTILE_MB (default 50) sizes the large documents;
 * KODO_HOSTILE_MAX_SECONDS (default 60) bounds each call on them. */
#define _POSIX_C_SOURCE 200809L
#include "kodo.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int checks = 0;
static int failures = 0;
/* Which statuses some call returned (0..31). */
static int seen[32];

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* Checks a status, and that an error status left a message and a success status none. */
static void expect_at(KodoStatus got, KodoStatus want, const char *call, int line) {
    char *message = kodo_last_error_message();
    checks++;
    if ((int)got >= 0 && (int)got < 32) seen[(int)got] = 1;
    if (got != want) {
        fprintf(stderr, "hostile.c:%d: %s returned %s (%d), expected %s: %s\n", line, call,
                kodo_status_name((int32_t)got), (int)got, kodo_status_name((int32_t)want),
                message ? message : "(no message)");
        failures++;
    } else if ((int)want >= 10 && (message == NULL || message[0] == '\0')) {
        fprintf(stderr, "hostile.c:%d: %s returned %s but left no message\n", line, call,
                kodo_status_name((int32_t)got));
        failures++;
    } else if ((int)want < 10 && message != NULL) {
        fprintf(stderr, "hostile.c:%d: %s succeeded but left the message '%s'\n", line, call, message);
        failures++;
    }
    if (message != NULL && kodo_string_free(message) != KODO_STATUS_OK) {
        fprintf(stderr, "hostile.c:%d: the last error message could not be freed\n", line);
        failures++;
    }
}

#define EXPECT(call, want) expect_at((call), (want), #call, __LINE__)

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void release(char *s) {
    CHECK(kodo_string_free(s) == KODO_STATUS_OK);
}

static KodoSession *new_session(const char *config) {
    KodoSession *s = NULL;
    EXPECT(kodo_session_new(config, &s), KODO_STATUS_OK);
    CHECK(s != NULL);
    return s;
}

static KodoOp *start(KodoSession *s, const char *request) {
    KodoOp *op = NULL;
    EXPECT(kodo_op_start(s, request, &op), KODO_STATUS_OK);
    CHECK(op != NULL);
    return op;
}

/* Polls until the operation is done; returns the number of events and copies the last one. */
static int drain(KodoOp *op, char *last, size_t last_size) {
    int count = 0;
    for (int i = 0; i < 600; i++) {
        char *event = (char *)1;
        KodoStatus st = kodo_op_next_event(op, 100, &event);
        if (st == KODO_STATUS_DONE || st == KODO_STATUS_PENDING) {
            CHECK(event == NULL);
            if (st == KODO_STATUS_DONE) return count;
            continue;
        }
        CHECK(st == KODO_STATUS_OK);
        if (st != KODO_STATUS_OK) return -1;
        count++;
        if (last != NULL) snprintf(last, last_size, "%s", event);
        release(event);
    }
    return -1;
}

/* Waits for a prompt that carries a requestId and copies the id. */
static int wait_request_id(KodoOp *op, char *id, size_t id_size) {
    static const char key[] = "\"requestId\":\"";
    for (int i = 0; i < 100; i++) {
        char *event = NULL;
        KodoStatus st = kodo_op_next_event(op, 100, &event);
        if (st == KODO_STATUS_PENDING) continue;
        if (st != KODO_STATUS_OK) return 0;
        const char *at = strstr(event, key);
        if (at != NULL) {
            at += sizeof key - 1;
            size_t n = strcspn(at, "\"");
            if (n >= id_size) n = id_size - 1;
            memcpy(id, at, n);
            id[n] = '\0';
            release(event);
            return 1;
        }
        release(event);
    }
    return 0;
}

static void statics(void) {
    static const char *names[] = {"Ok", "Pending", "Done", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                  "NullArgument", "InvalidUtf8", "InvalidJson", "InvalidRequest",
                                  "UnsupportedProtocol", "InvalidHandle", "Panic", "Internal",
                                  "DebugHooksDisabled"};
    CHECK(kodo_version() != NULL && strcmp(kodo_version(), KODO_VERSION) == 0);
    CHECK(kodo_protocol_version() == KODO_PROTOCOL_VERSION);
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        const char *want = names[i] ? names[i] : "Unknown";
        CHECK(strcmp(kodo_status_name(i), want) == 0);
    }
    const int32_t unknown[] = {-1, 3, 9, 19, 255, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(strcmp(kodo_status_name(unknown[i]), "Unknown") == 0);
    }
    /* Static strings are not this library's to free. */
    EXPECT(kodo_string_free((char *)kodo_version()), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_string_free((char *)kodo_status_name(0)), KODO_STATUS_INVALID_HANDLE);
    /* No failure yet on this thread after a success: no message. */
    EXPECT(kodo_session_free(NULL), KODO_STATUS_OK);
    CHECK(kodo_last_error_message() == NULL);
}

static void null_arguments(void) {
    const char *cfg = "{\"v\":1}";
    const char *req = "{\"v\":1,\"kind\":\"version\"}";
    KodoSession *s = (KodoSession *)1;
    EXPECT(kodo_session_new(NULL, &s), KODO_STATUS_NULL_ARGUMENT);
    CHECK(s == NULL);
    EXPECT(kodo_session_new(cfg, NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_session_new(NULL, NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_session_free(NULL), KODO_STATUS_OK);

    s = new_session(cfg);
    KodoOp *op = (KodoOp *)1;
    EXPECT(kodo_op_start(NULL, req, &op), KODO_STATUS_NULL_ARGUMENT);
    CHECK(op == NULL);
    op = (KodoOp *)1;
    EXPECT(kodo_op_start(s, NULL, &op), KODO_STATUS_NULL_ARGUMENT);
    CHECK(op == NULL);
    EXPECT(kodo_op_start(s, req, NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_op_start(NULL, NULL, NULL), KODO_STATUS_NULL_ARGUMENT);

    char *event = (char *)1;
    EXPECT(kodo_op_next_event(NULL, 0, &event), KODO_STATUS_NULL_ARGUMENT);
    CHECK(event == NULL);
    op = start(s, req);
    EXPECT(kodo_op_next_event(op, 0, NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_op_respond(NULL, "{\"v\":1,\"requestId\":\"x\"}"), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_op_respond(op, NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_op_cancel(NULL), KODO_STATUS_NULL_ARGUMENT);
    EXPECT(kodo_op_free(NULL), KODO_STATUS_OK);
    EXPECT(kodo_string_free(NULL), KODO_STATUS_OK);
    CHECK(drain(op, NULL, 0) >= 1);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

/* Handles this library never handed out, freed ones, and handles of the other kind. */
static void forged_and_freed_handles(void) {
    int on_stack = 0;
    void *heap = malloc(64);
    uintptr_t live_heap = (uintptr_t)heap;
    void *gone = malloc(64);
    uintptr_t dangling = (uintptr_t)gone;
    free(gone);
    const uintptr_t forged[] = {1, 8, 0x4B0D0000u, 0x4B0D0001u, 0xdeadbeefu, (uintptr_t)&on_stack,
                                live_heap, dangling, UINTPTR_MAX, UINTPTR_MAX - 7};
    const char *req = "{\"v\":1,\"kind\":\"version\"}";
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        KodoSession *fs = (KodoSession *)forged[i];
        KodoOp *fo = (KodoOp *)forged[i];
        KodoOp *op = (KodoOp *)1;
        char *event = (char *)1;
        EXPECT(kodo_op_start(fs, req, &op), KODO_STATUS_INVALID_HANDLE);
        CHECK(op == NULL);
        EXPECT(kodo_session_free(fs), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_op_next_event(fo, 0, &event), KODO_STATUS_INVALID_HANDLE);
        CHECK(event == NULL);
        EXPECT(kodo_op_respond(fo, "{\"v\":1,\"requestId\":\"x\"}"), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_op_cancel(fo), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_op_free(fo), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_string_free((char *)forged[i]), KODO_STATUS_INVALID_HANDLE);
    }
    free(heap);

    KodoSession *s = new_session("{\"v\":1}");
    KodoOp *op = start(s, req);
    /* The wrong kind. */
    KodoOp *other = NULL;
    EXPECT(kodo_op_start((KodoSession *)op, req, &other), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_session_free((KodoSession *)op), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_cancel((KodoOp *)s), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_free((KodoOp *)s), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_string_free((char *)s), KODO_STATUS_INVALID_HANDLE);
    /* A handle next to a live one. */
    EXPECT(kodo_op_free((KodoOp *)((uintptr_t)op + 1)), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_free((KodoOp *)((uintptr_t)op + 8)), KODO_STATUS_INVALID_HANDLE);
    CHECK(drain(op, NULL, 0) >= 1);

    /* Freed, then every call with it, then freed again. */
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    char *event = (char *)1;
    EXPECT(kodo_op_next_event(op, 0, &event), KODO_STATUS_INVALID_HANDLE);
    CHECK(event == NULL);
    EXPECT(kodo_op_respond(op, "{\"v\":1,\"requestId\":\"x\"}"), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_cancel(op), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_free(op), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_op_free(op), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
    EXPECT(kodo_op_start(s, req, &other), KODO_STATUS_INVALID_HANDLE);
    CHECK(other == NULL);
    EXPECT(kodo_session_free(s), KODO_STATUS_INVALID_HANDLE);
    /* A running operation freed: cancelled, and its handle is gone. */
    s = new_session("{\"v\":1,\"debugHooks\":true}");
    op = start(s, "{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":600000}");
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    EXPECT(kodo_op_cancel(op), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

static void strings(void) {
    KodoSession *s = new_session("{\"v\":1}");
    KodoOp *op = start(s, "{\"v\":1,\"kind\":\"version\"}");
    char *event = NULL;
    KodoStatus st;
    while ((st = kodo_op_next_event(op, 100, &event)) == KODO_STATUS_PENDING) {
    }
    EXPECT(st, KODO_STATUS_OK);
    CHECK(event != NULL);
    if (event != NULL) {
        size_t len = strlen(event);
        char copy[64];
        memcpy(copy, event, len < sizeof copy ? len + 1 : sizeof copy);
        copy[sizeof copy - 1] = '\0';
        /* Inside a string, a copy of it, the stack, the heap: none is this library's to free. */
        EXPECT(kodo_string_free(event + 1), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_string_free(event + len), KODO_STATUS_INVALID_HANDLE);
        EXPECT(kodo_string_free(copy), KODO_STATUS_INVALID_HANDLE);
        char *mine = malloc(16);
        CHECK(mine != NULL);
        EXPECT(kodo_string_free(mine), KODO_STATUS_INVALID_HANDLE);
        free(mine);
        /* The event is intact after all that, and is freed once. */
        CHECK(event[0] == '{' && strlen(event) == len);
        EXPECT(kodo_string_free(event), KODO_STATUS_OK);
        EXPECT(kodo_string_free(event), KODO_STATUS_INVALID_HANDLE);
    }
    CHECK(drain(op, NULL, 0) >= 0);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);

    /* The last error message is a string like the others: freed once. */
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
    EXPECT(kodo_session_free(s), KODO_STATUS_INVALID_HANDLE);
    KodoSession *again = NULL;
    CHECK(kodo_session_new("{", &again) == KODO_STATUS_INVALID_JSON);
    char *message = kodo_last_error_message();
    CHECK(message != NULL);
    char *message2 = kodo_last_error_message();
    CHECK(message2 != NULL && message2 != message);
    EXPECT(kodo_string_free(message), KODO_STATUS_OK);
    EXPECT(kodo_string_free(message), KODO_STATUS_INVALID_HANDLE);
    EXPECT(kodo_string_free(message2), KODO_STATUS_OK);
}

static void invalid_utf8(void) {
    static const char *bad[] = {
        "{\"v\":1,\"kind\":\"ver\xffsion\"}",
        "{\"v\":1,\"kind\":\"version\",\"x\":\"\xc0\x80\"}",           /* overlong NUL */
        "{\"v\":1,\"kind\":\"version\",\"x\":\"\xed\xa0\x80\"}",       /* a surrogate */
        "{\"v\":1,\"kind\":\"version\",\"x\":\"\xf4\x90\x80\x80\"}",   /* above U+10FFFF */
        "{\"v\":1,\"kind\":\"version\",\"x\":\"\x80\"}",               /* a lone continuation */
        "{\"v\":1,\"kind\":\"version\"}\xe2\x82",                      /* truncated at the end */
        "\xef\xbb\xbf\xfe\xff",
    };
    KodoSession *s = new_session("{\"v\":1,\"debugHooks\":true}");
    KodoOp *asking = start(s, "{\"v\":1,\"kind\":\"debug.ask\"}");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        KodoSession *s2 = (KodoSession *)1;
        KodoOp *op = (KodoOp *)1;
        EXPECT(kodo_session_new(bad[i], &s2), KODO_STATUS_INVALID_UTF8);
        CHECK(s2 == NULL);
        EXPECT(kodo_op_start(s, bad[i], &op), KODO_STATUS_INVALID_UTF8);
        CHECK(op == NULL);
        EXPECT(kodo_op_respond(asking, bad[i]), KODO_STATUS_INVALID_UTF8);
    }
    EXPECT(kodo_op_free(asking), KODO_STATUS_OK);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

struct json_case {
    const char *text;
    KodoStatus want;
};

static void malformed_json_and_versions(void) {
    static const struct json_case requests[] = {
        {"", KODO_STATUS_INVALID_JSON},
        {" ", KODO_STATUS_INVALID_JSON},
        {"{", KODO_STATUS_INVALID_JSON},
        {"}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1,}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1 \"kind\":\"version\"}", KODO_STATUS_INVALID_JSON},
        {"{'v':1}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1,\"kind\":\"version\"} trailing", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1,\"kind\":\"version\",\"x\":\"\\ud800\"}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1,\"kind\":\"version\",\"x\":\"\\u00\"}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1e400,\"kind\":\"version\"}", KODO_STATUS_INVALID_JSON},
        {"{\"v\":NaN}", KODO_STATUS_INVALID_JSON},
        {"null", KODO_STATUS_INVALID_REQUEST},
        {"[]", KODO_STATUS_INVALID_REQUEST},
        {"1", KODO_STATUS_INVALID_REQUEST},
        {"\"{\\\"v\\\":1}\"", KODO_STATUS_INVALID_REQUEST},
        {"{}", KODO_STATUS_INVALID_REQUEST},
        {"{\"kind\":\"version\"}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"kind\":\"no.such.kind\"}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"kind\":7}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"kind\":\"version\",\"extra\":0}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":-1}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":0,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":2,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":99,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":-1,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":1.5,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":1.0,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":4294967297,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":18446744073709551617,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":\"1\",\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":null,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":true,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":[1],\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":{\"v\":1},\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":1,\"v\":2,\"kind\":\"version\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":1,\"kind\":\"debug.events\"}", KODO_STATUS_DEBUG_HOOKS_DISABLED},
        {"{\"v\":1,\"kind\":\"debug.panic\",\"message\":\"x\",\"at\":\"start\"}", KODO_STATUS_DEBUG_HOOKS_DISABLED},
        /* Text after the terminating NUL is not read. */
        {"{\"v\":1,\"kind\":\"version\"}\0{", KODO_STATUS_OK},
        {"{\"v\":1\0,\"kind\":\"version\"}", KODO_STATUS_INVALID_JSON},
        {" \t\r\n{\"v\":1,\"kind\":\"version\"}\n", KODO_STATUS_OK},
    };
    KodoSession *s = new_session("{\"v\":1}");
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        KodoOp *op = (KodoOp *)1;
        expect_at(kodo_op_start(s, requests[i].text, &op), requests[i].want, requests[i].text, __LINE__);
        if (requests[i].want == KODO_STATUS_OK) {
            CHECK(op != NULL && drain(op, NULL, 0) >= 1);
            EXPECT(kodo_op_free(op), KODO_STATUS_OK);
        } else {
            CHECK(op == NULL);
        }
    }
    static const struct json_case configs[] = {
        {"", KODO_STATUS_INVALID_JSON},
        {"{\"v\":1", KODO_STATUS_INVALID_JSON},
        {"[]", KODO_STATUS_INVALID_REQUEST},
        {"{}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"debugHooks\":\"yes\"}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"unknown\":1}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":0}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":2}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":\"1\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
        {"{\"v\":4294967297}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        KodoSession *s2 = (KodoSession *)1;
        expect_at(kodo_session_new(configs[i].text, &s2), configs[i].want, configs[i].text, __LINE__);
        CHECK(s2 == NULL);
    }
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

/* kodo_op_respond against a question that waits, and against none. */
static void responses(void) {
    KodoSession *s = new_session("{\"v\":1,\"debugHooks\":true}");
    KodoOp *op = start(s, "{\"v\":1,\"kind\":\"debug.ask\"}");
    char id[128] = {0};
    CHECK(wait_request_id(op, id, sizeof id));
    char answer[256];
    static const struct json_case wrong[] = {
        {"{", KODO_STATUS_INVALID_JSON},
        {"[]", KODO_STATUS_INVALID_REQUEST},
        {"{\"requestId\":\"x\"}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"requestId\":5}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":1,\"requestId\":\"00000000-0000-0000-0000-000000000000\"}", KODO_STATUS_INVALID_REQUEST},
        {"{\"v\":7,\"requestId\":\"x\"}", KODO_STATUS_UNSUPPORTED_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        expect_at(kodo_op_respond(op, wrong[i].text), wrong[i].want, wrong[i].text, __LINE__);
    }
    snprintf(answer, sizeof answer, "{\"v\":2,\"requestId\":\"%s\"}", id);
    EXPECT(kodo_op_respond(op, answer), KODO_STATUS_UNSUPPORTED_PROTOCOL);
    snprintf(answer, sizeof answer, "{\"v\":1,\"requestId\":\"%s\",\"value\":42}", id);
    EXPECT(kodo_op_respond(op, answer), KODO_STATUS_OK);
    /* Answered already. */
    EXPECT(kodo_op_respond(op, answer), KODO_STATUS_INVALID_REQUEST);
    char last[4096] = {0};
    CHECK(drain(op, last, sizeof last) >= 1);
    CHECK(strstr(last, "\"type\":\"result\"") != NULL && strstr(last, "\"value\":42") != NULL);
    /* The operation has ended. */
    EXPECT(kodo_op_respond(op, answer), KODO_STATUS_INVALID_REQUEST);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);

    /* A question whose operation is cancelled: the answer has nobody to go to. */
    op = start(s, "{\"v\":1,\"kind\":\"debug.ask\"}");
    CHECK(wait_request_id(op, id, sizeof id));
    EXPECT(kodo_op_cancel(op), KODO_STATUS_OK);
    CHECK(drain(op, last, sizeof last) >= 0);
    CHECK(strstr(last, "\"type\":\"cancelled\"") != NULL);
    snprintf(answer, sizeof answer, "{\"v\":1,\"requestId\":\"%s\"}", id);
    EXPECT(kodo_op_respond(op, answer), KODO_STATUS_INVALID_REQUEST);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    /* Answered right after the cancel, before the operation's task is gone: refused every time
     * (it used to be taken or not depending on timing: 250 of 300 taken). */
    for (int i = 0; i < 20; i++) {
        op = start(s, "{\"v\":1,\"kind\":\"debug.ask\"}");
        CHECK(wait_request_id(op, id, sizeof id));
        snprintf(answer, sizeof answer, "{\"v\":1,\"requestId\":\"%s\"}", id);
        EXPECT(kodo_op_cancel(op), KODO_STATUS_OK);
        EXPECT(kodo_op_respond(op, answer), KODO_STATUS_INVALID_REQUEST);
        EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    }
    /* An operation that never asks. */
    op = start(s, "{\"v\":1,\"kind\":\"version\"}");
    EXPECT(kodo_op_respond(op, "{\"v\":1,\"requestId\":\"x\"}"), KODO_STATUS_INVALID_REQUEST);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

/* Every non-error status, the debug statuses, and a contained panic. */
static void lifecycle_statuses(void) {
    KodoSession *s = new_session("{\"v\":1,\"debugHooks\":true}");
    KodoOp *op = start(s, "{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":600000,\"progressEveryMs\":600000}");
    char *event = (char *)1;
    EXPECT(kodo_op_next_event(op, 0, &event), KODO_STATUS_PENDING);
    CHECK(event == NULL);
    EXPECT(kodo_op_next_event(op, 20, &event), KODO_STATUS_PENDING);
    EXPECT(kodo_op_cancel(op), KODO_STATUS_OK);
    EXPECT(kodo_op_cancel(op), KODO_STATUS_OK);
    char last[4096] = {0};
    CHECK(drain(op, last, sizeof last) == 1);
    CHECK(strstr(last, "\"type\":\"cancelled\"") != NULL);
    /* Done stays done, at once even with the longest timeout. */
    double t0 = now_seconds();
    EXPECT(kodo_op_next_event(op, UINT32_MAX, &event), KODO_STATUS_DONE);
    EXPECT(kodo_op_next_event(op, UINT32_MAX, &event), KODO_STATUS_DONE);
    CHECK(now_seconds() - t0 < 1.0);
    CHECK(event == NULL);
    EXPECT(kodo_op_cancel(op), KODO_STATUS_OK);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);

    KodoOp *none = (KodoOp *)1;
    EXPECT(kodo_op_start(s, "{\"v\":1,\"kind\":\"debug.panic\",\"message\":\"hostile\",\"at\":\"start\"}", &none),
           KODO_STATUS_PANIC);
    CHECK(none == NULL);
    op = start(s, "{\"v\":1,\"kind\":\"debug.panic\",\"message\":\"hostile inside\"}");
    CHECK(drain(op, last, sizeof last) >= 1);
    CHECK(strstr(last, "\"code\":\"Panic\"") != NULL);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);

    /* An operation outlives its freed session. */
    op = start(s, "{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":30}");
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
    CHECK(drain(op, last, sizeof last) >= 1);
    CHECK(strstr(last, "\"type\":\"result\"") != NULL);
    EXPECT(kodo_op_free(op), KODO_STATUS_OK);
}

static char *repeat(const char *unit, size_t count, const char *prefix, const char *suffix) {
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *text = malloc(pl + ul * count + sl + 1);
    if (text == NULL) return NULL;
    memcpy(text, prefix, pl);
    char *at = text + pl;
    for (size_t i = 0; i < count; i++, at += ul) memcpy(at, unit, ul);
    memcpy(at, suffix, sl + 1);
    return text;
}

static double max_seconds = 60.0;

/* Sends `text` as a configuration, a request and a response; checks each status and the time. */
static void timed(KodoSession *s, KodoOp *asking, const char *what, char *text, KodoStatus want_config,
                  KodoStatus want_request, KodoStatus want_response) {
    CHECK(text != NULL);
    if (text == NULL) return;
    double t0 = now_seconds();
    KodoSession *s2 = (KodoSession *)1;
    expect_at(kodo_session_new(text, &s2), want_config, what, __LINE__);
    if (want_config == KODO_STATUS_OK) {
        EXPECT(kodo_session_free(s2), KODO_STATUS_OK);
    } else {
        CHECK(s2 == NULL);
    }
    KodoOp *op = (KodoOp *)1;
    expect_at(kodo_op_start(s, text, &op), want_request, what, __LINE__);
    if (want_request == KODO_STATUS_OK) {
        CHECK(drain(op, NULL, 0) >= 1);
        EXPECT(kodo_op_free(op), KODO_STATUS_OK);
    } else {
        CHECK(op == NULL);
    }
    expect_at(kodo_op_respond(asking, text), want_response, what, __LINE__);
    double took = now_seconds() - t0;
    printf("  %-62s %8.2f s\n", what, took);
    if (took > max_seconds) {
        fprintf(stderr, "%s took %.1f s (limit %.0f s)\n", what, took, max_seconds);
        failures++;
    }
    free(text);
}

/* `count` copies of `unit` between `prefix` and `suffix`. */
static char *sized(const char *prefix, const char *unit, size_t count, const char *suffix) {
    return repeat(unit, count, prefix, suffix);
}

/* `n` levels of [] inside a request's unknown field "x". */
static char *nested_in_request(size_t n) {
    static const char prefix[] = "{\"v\":1,\"kind\":\"version\",\"x\":";
    char *text = malloc(sizeof prefix + 2 * n + 1);
    if (text == NULL) return NULL;
    size_t at = sizeof prefix - 1;
    memcpy(text, prefix, at);
    memset(text + at, '[', n);
    memset(text + at + n, ']', n);
    strcpy(text + at + 2 * n, "}");
    return text;
}

/* 100 000 levels of nesting, documents just within and beyond KODO_MAX_JSON_BYTES, and
 * KODO_HOSTILE_MB (default 50) megabyte documents: a status in bounded time, no stack overflow. */
static void deep_and_large(void) {
    const char *mb_env = getenv("KODO_HOSTILE_MB");
    const char *max_env = getenv("KODO_HOSTILE_MAX_SECONDS");
    size_t mb = mb_env ? (size_t)strtoul(mb_env, NULL, 10) : 50;
    if (max_env) max_seconds = strtod(max_env, NULL);
    const size_t big = mb * 1024 * 1024;
    const size_t limit = KODO_MAX_JSON_BYTES;
    const size_t deep = 100000;
    const KodoStatus J = KODO_STATUS_INVALID_JSON, R = KODO_STATUS_INVALID_REQUEST;
    char label[96];
    KodoSession *s = new_session("{\"v\":1,\"debugHooks\":true}");
    KodoOp *asking = start(s, "{\"v\":1,\"kind\":\"debug.ask\"}");
    printf("hostile: deep and large documents (each as a configuration, a request and a response)\n");

    snprintf(label, sizeof label, "%zu x '[', unclosed", deep);
    timed(s, asking, label, sized("", "[", deep, ""), J, J, J);
    snprintf(label, sizeof label, "%zu levels of [], balanced", deep);
    {
        char *text = malloc(2 * deep + 1);
        if (text != NULL) {
            memset(text, '[', deep);
            memset(text + deep, ']', deep);
            text[2 * deep] = '\0';
        }
        timed(s, asking, label, text, J, J, J);
    }
    snprintf(label, sizeof label, "%zu levels of {\"a\": inside a request", deep);
    timed(s, asking, label, sized("{\"v\":1,\"kind\":\"version\",\"x\":", "{\"a\":", deep, ""), J, J, J);
    /* The documented depth: 127 levels parse (then the unknown field is refused), 128 do not. */
    timed(s, asking, "127 levels (the object and 126 arrays)", nested_in_request(126), R, R, R);
    timed(s, asking, "128 levels (the object and 127 arrays)", nested_in_request(127), J, J, J);

    /* Just within the size limit (whitespace is the cheapest text to parse), and one byte over. */
    {
        static const char doc[] = "{\"v\":1,\"kind\":\"version\"}";
        char *text = malloc(limit + 2);
        if (text != NULL) {
            memset(text, ' ', limit - (sizeof doc - 1));
            strcpy(text + limit - (sizeof doc - 1), doc);
            char *copy = malloc(limit + 2);
            if (copy != NULL) {
                memcpy(copy, text, limit + 1);
                snprintf(label, sizeof label, "KODO_MAX_JSON_BYTES (%zu) bytes, valid", limit);
                timed(s, asking, label, copy, R, KODO_STATUS_OK, R);
            }
            memmove(text + 1, text, limit + 1);
            text[0] = ' ';
            timed(s, asking, "KODO_MAX_JSON_BYTES + 1 bytes", text, J, J, J);
        }
    }
    /* Under the limit, each shape is parsed whole: bounded time. */
    timed(s, asking, "1 MB string in an unknown field", sized("{\"v\":1,\"kind\":\"version\",\"pad\":\"", "a", 1 << 20, "\"}"),
          R, R, R);
    timed(s, asking, "1 MB array of numbers", sized("[", "1,", 1 << 19, "1]"), R, R, R);
    timed(s, asking, "1 MB of objects in an unknown field", sized("{\"v\":1,\"x\":[", "{\"k\":[1,2]},", (1 << 20) / 12, "0]}"),
          R, R, R);
    timed(s, asking, "1 MB, truncated", sized("{\"v\":1,\"x\":[", "1,", 1 << 19, ""), J, J, J);
    timed(s, asking, "1 MB with protocol version 3", sized("{\"v\":3,\"x\":[", "1,", 1 << 19, "1]}"),
          KODO_STATUS_UNSUPPORTED_PROTOCOL, KODO_STATUS_UNSUPPORTED_PROTOCOL, KODO_STATUS_UNSUPPORTED_PROTOCOL);
    timed(s, asking, "1 MB, invalid UTF-8 at the end", sized("{\"v\":1,\"kind\":\"version\"}", " ", 1 << 20, "\xff"),
          KODO_STATUS_INVALID_UTF8, KODO_STATUS_INVALID_UTF8, KODO_STATUS_INVALID_UTF8);
    /* KODO_HOSTILE_MB: refused for its size, before it is parsed. */
    if (big > limit) {
        snprintf(label, sizeof label, "%zu MB string in an unknown field", mb);
        timed(s, asking, label, sized("{\"v\":1,\"kind\":\"version\",\"pad\":\"", "a", big, "\"}"), J, J, J);
        snprintf(label, sizeof label, "%zu MB array of numbers", mb);
        timed(s, asking, label, sized("[", "1,", big / 2, "1]"), J, J, J);
        snprintf(label, sizeof label, "%zu MB of whitespace, then a valid request", mb);
        timed(s, asking, label, sized("", " ", big, "{\"v\":1,\"kind\":\"version\"}"), J, J, J);
        snprintf(label, sizeof label, "%zu MB, invalid UTF-8 at the end", mb);
        timed(s, asking, label, sized("{\"v\":1,\"kind\":\"version\"}", " ", big, "\xff"), J, J, J);
    }
    EXPECT(kodo_op_free(asking), KODO_STATUS_OK);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

/* The same handle or string freed by several threads at once: exactly one succeeds. */
#define RACERS 8

struct race {
    pthread_mutex_t lock;
    pthread_cond_t go;
    int ready;
    int started;
    KodoOp *op;
    KodoSession *session;
    char *string;
    int ok[3];
    int invalid[3];
};

static void *racer(void *arg) {
    struct race *r = arg;
    pthread_mutex_lock(&r->lock);
    r->ready++;
    while (!r->started) pthread_cond_wait(&r->go, &r->lock);
    pthread_mutex_unlock(&r->lock);
    KodoStatus got[3];
    got[0] = kodo_op_free(r->op);
    got[1] = kodo_session_free(r->session);
    got[2] = kodo_string_free(r->string);
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < 3; i++) {
        if (got[i] == KODO_STATUS_OK) r->ok[i]++;
        if (got[i] == KODO_STATUS_INVALID_HANDLE) r->invalid[i]++;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void racing_frees(void) {
    for (int round = 0; round < 20; round++) {
        struct race r;
        memset(&r, 0, sizeof r);
        pthread_mutex_init(&r.lock, NULL);
        pthread_cond_init(&r.go, NULL);
        r.session = new_session("{\"v\":1,\"debugHooks\":true}");
        r.op = start(r.session, round % 2 ? "{\"v\":1,\"kind\":\"version\"}"
                                          : "{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":600000}");
        KodoSession *tmp = NULL;
        CHECK(kodo_session_new("{", &tmp) == KODO_STATUS_INVALID_JSON);
        r.string = kodo_last_error_message();
        CHECK(r.string != NULL);
        pthread_t threads[RACERS];
        for (int i = 0; i < RACERS; i++) CHECK(pthread_create(&threads[i], NULL, racer, &r) == 0);
        pthread_mutex_lock(&r.lock);
        while (r.ready < RACERS) {
            pthread_mutex_unlock(&r.lock);
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            pthread_mutex_lock(&r.lock);
        }
        r.started = 1;
        pthread_cond_broadcast(&r.go);
        pthread_mutex_unlock(&r.lock);
        for (int i = 0; i < RACERS; i++) pthread_join(threads[i], NULL);
        for (int i = 0; i < 3; i++) {
            CHECK(r.ok[i] == 1);
            CHECK(r.invalid[i] == RACERS - 1);
        }
        pthread_mutex_destroy(&r.lock);
        pthread_cond_destroy(&r.go);
    }
    seen[KODO_STATUS_INVALID_HANDLE] = 1;
}

/* Calls made while a thread exits, from a pthread key destructor: glibc runs those after the
 * thread-locals of Rust are gone. */
struct teardown {
    KodoOp *op;
    KodoStatus free_op, free_again, bad_json, good_session, free_session, start, message_free;
    int message_is_null;
    int setup;
};

static pthread_key_t teardown_key;

static void on_thread_exit(void *arg) {
    struct teardown *t = arg;
    t->free_op = kodo_op_free(t->op);
    t->free_again = kodo_op_free(t->op);
    KodoSession *s = NULL;
    t->bad_json = kodo_session_new("{", &s);
    char *message = kodo_last_error_message();
    t->message_is_null = message == NULL;
    t->message_free = kodo_string_free(message);
    t->good_session = kodo_session_new("{\"v\":1}", &s);
    KodoOp *op = NULL;
    t->start = kodo_op_start(s, "{\"v\":1,\"kind\":\"version\"}", &op);
    if (kodo_op_free(op) != KODO_STATUS_OK) t->start = KODO_STATUS_INTERNAL;
    t->free_session = kodo_session_free(s);
}

static void *exiting_thread(void *arg) {
    struct teardown *t = arg;
    KodoSession *s = NULL;
    KodoOp *op = NULL;
    /* The thread uses Kodo first (a failed call keeps a message), so its thread-locals exist and
     * are torn down before the destructor runs. */
    t->setup = kodo_op_start(NULL, "{", &op) == KODO_STATUS_NULL_ARGUMENT &&
               kodo_session_new("{\"v\":1}", &s) == KODO_STATUS_OK &&
               kodo_op_start(s, "{\"v\":1,\"kind\":\"version\"}", &op) == KODO_STATUS_OK &&
               kodo_session_free(s) == KODO_STATUS_OK;
    t->op = op;
    pthread_setspecific(teardown_key, t);
    return NULL;
}

static void thread_teardown(void) {
    struct teardown t;
    memset(&t, 0, sizeof t);
    CHECK(pthread_key_create(&teardown_key, on_thread_exit) == 0);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, exiting_thread, &t) == 0);
    pthread_join(thread, NULL);
    CHECK(t.setup && t.op != NULL);
    CHECK(t.free_op == KODO_STATUS_OK);
    CHECK(t.free_again == KODO_STATUS_INVALID_HANDLE);
    CHECK(t.bad_json == KODO_STATUS_INVALID_JSON);
    /* The message may be gone with the thread-locals (documented); freeing what came is fine. */
    CHECK(t.message_free == KODO_STATUS_OK);
    CHECK(t.good_session == KODO_STATUS_OK);
    CHECK(t.start == KODO_STATUS_OK);
    CHECK(t.free_session == KODO_STATUS_OK);
    printf("hostile: calls from a thread-exit destructor answered (message %s)\n",
           t.message_is_null ? "not kept, as documented" : "kept");
    pthread_key_delete(teardown_key);
}

/* Nothing handed out is left: the library's own count of handles, strings and tasks. Freed
 * operations end asynchronously, so the count is read until it settles (at most 10 s). */
static void nothing_left(void) {
    KodoSession *s = new_session("{\"v\":1,\"debugHooks\":true}");
    char last[4096] = {0};
    for (int i = 0; i < 100; i++) {
        KodoOp *op = start(s, "{\"v\":1,\"kind\":\"debug.stats\"}");
        CHECK(drain(op, last, sizeof last) >= 1);
        EXPECT(kodo_op_free(op), KODO_STATUS_OK);
        /* The stats operation's own two tasks. */
        if (strstr(last, "\"runtimeTasks\":2,") != NULL) break;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    printf("hostile: debug.stats at the end: %s\n", last);
    /* This session and the stats operation are the only handles; no string is outstanding. */
    CHECK(strstr(last, "\"operationsLive\":0,") != NULL);
    CHECK(strstr(last, "\"runtimeTasks\":2,") != NULL);
    CHECK(strstr(last, "\"sessionHandles\":1,") != NULL);
    CHECK(strstr(last, "\"operationHandles\":1,") != NULL);
    CHECK(strstr(last, "\"stringsOutstanding\":0") != NULL);
    EXPECT(kodo_session_free(s), KODO_STATUS_OK);
}

int main(void) {
    double t0 = now_seconds();
    statics();
    null_arguments();
    forged_and_freed_handles();
    strings();
    invalid_utf8();
    malformed_json_and_versions();
    responses();
    lifecycle_statuses();
    racing_frees();
    thread_teardown();
    deep_and_large();
    nothing_left();

    /* Every status was answered by some call, except Internal: only a runtime that cannot
     * start returns it, which no input can cause. */
    const int statuses[] = {0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 18};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        if (!seen[statuses[i]]) {
            fprintf(stderr, "no call returned %s\n", kodo_status_name(statuses[i]));
            failures++;
        }
    }
    printf("hostile: %d checks, %d failed, %.1f s\n", checks, failures, now_seconds() - t0);
    if (failures == 0) printf("c hostile test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
