// The only C that Swift sees of librabbitmq (rabbitmq-c).
//
// Debian 12 ships rabbitmq-c 0.11, whose headers sit at the top of the include path
// (`amqp.h`); 0.12 and later moved them under `rabbitmq-c/`. Both layouts work.
#ifndef MCPGW_CRABBITMQ_SHIM_H
#define MCPGW_CRABBITMQ_SHIM_H

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

#include <openssl/ssl.h>

// `amqp_login_with_properties` is variadic (the SASL arguments), and Swift cannot call
// variadic C functions, so these fixed-arity wrappers stand in for it.
static inline amqp_rpc_reply_t mcpgw_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                      int channel_max, int frame_max, int heartbeat,
                                                      const amqp_table_t *client_properties,
                                                      const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

static inline amqp_rpc_reply_t mcpgw_amqp_login_external(amqp_connection_state_t state, const char *vhost,
                                                         int channel_max, int frame_max, int heartbeat,
                                                         const amqp_table_t *client_properties,
                                                         const char *identity) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_EXTERNAL, identity);
}

// 0.11 loads no default CA paths for TLS; this lets an `amqps://` connection without an
// explicit CA file verify against the system store.
static inline int mcpgw_amqp_ssl_use_default_verify_paths(amqp_socket_t *socket) {
    SSL_CTX *context = (SSL_CTX *)amqp_ssl_socket_get_context(socket);
    if (context == NULL) {
        return 0;
    }
    return SSL_CTX_set_default_verify_paths(context);
}

#endif
