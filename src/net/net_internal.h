// Private to src/net: libcurl's one-time global initialisation (shared by the loop and the
// batch client).
#ifndef SEIZE_NET_INTERNAL_H
#define SEIZE_NET_INTERNAL_H

/* curl_global_init once per process. 0, or SEIZE_ENET with the message set. */
int net_curl_init(void);

#endif
