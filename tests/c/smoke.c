/* Proves include/kodo.h is usable from C: compiled with -std=c99 -Wall -Werror against the
 * header and linked to the cdylib, it drives a session, an operation, errors and cancellation. */
#include "kodo.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* Polls until the operation is done; returns the number of events and copies the last one. */
static int drain(KodoOp *op, char *last, size_t last_size) {
    int count = 0;
    for (int i = 0; i < 1000; i++) {
        char *event = NULL;
        KodoStatus st = kodo_op_next_event(op, 100, &event);
        if (st == KODO_STATUS_DONE) return count;
        if (st == KODO_STATUS_PENDING) continue;
        CHECK(st == KODO_STATUS_OK);
        if (st != KODO_STATUS_OK) return -1;
        count++;
        snprintf(last, last_size, "%s", event);
        CHECK(kodo_string_free(event) == KODO_STATUS_OK);
    }
    return -1;
}

int main(void) {
    CHECK(strcmp(kodo_version(), KODO_VERSION) == 0);
    CHECK(kodo_protocol_version() == KODO_PROTOCOL_VERSION);
    CHECK(strcmp(kodo_status_name(KODO_STATUS_INVALID_JSON), "InvalidJson") == 0);
    CHECK(strcmp(kodo_status_name(12345), "Unknown") == 0);

    KodoSession *session = NULL;
    CHECK(kodo_session_new("{\"v\":1,\"debugHooks\":true}", &session) == KODO_STATUS_OK);
    CHECK(session != NULL);

    /* A request round trip. */
    KodoOp *op = NULL;
    char last[4096] = {0};
    CHECK(kodo_op_start(session, "{\"v\":1,\"kind\":\"version\"}", &op) == KODO_STATUS_OK);
    CHECK(drain(op, last, sizeof last) >= 1);
    CHECK(strstr(last, "\"type\":\"result\"") != NULL);
    CHECK(strstr(last, "\"libraryVersion\":\"" KODO_VERSION "\"") != NULL);
    CHECK(kodo_op_free(op) == KODO_STATUS_OK);

    /* Errors: a status, a message, and the out-pointer left NULL. */
    op = (KodoOp *)1;
    CHECK(kodo_op_start(session, "{not json", &op) == KODO_STATUS_INVALID_JSON);
    CHECK(op == NULL);
    char *message = kodo_last_error_message();
    CHECK(message != NULL && strlen(message) > 0);
    CHECK(kodo_string_free(message) == KODO_STATUS_OK);
    CHECK(kodo_op_start(NULL, "{\"v\":1,\"kind\":\"version\"}", &op) == KODO_STATUS_NULL_ARGUMENT);
    CHECK(kodo_op_start(session, "{\"v\":1,\"kind\":\"debug.panic\",\"message\":\"c\",\"at\":\"start\"}", &op) == KODO_STATUS_PANIC);

    /* Cancellation. */
    CHECK(kodo_op_start(session, "{\"v\":1,\"kind\":\"debug.sleep\",\"ms\":600000}", &op) == KODO_STATUS_OK);
    CHECK(kodo_op_cancel(op) == KODO_STATUS_OK);
    CHECK(drain(op, last, sizeof last) >= 1);
    CHECK(strstr(last, "\"type\":\"cancelled\"") != NULL);
    CHECK(kodo_op_free(op) == KODO_STATUS_OK);
    CHECK(kodo_op_free(op) == KODO_STATUS_INVALID_HANDLE);

    CHECK(kodo_session_free(session) == KODO_STATUS_OK);
    CHECK(kodo_session_free(NULL) == KODO_STATUS_OK);

    if (failures == 0) printf("c smoke test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
