// The only C that Swift sees of libpq.
#ifndef MCPGW_CLIBPQ_SHIM_H
#define MCPGW_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
