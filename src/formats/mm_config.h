/* mm_config.h — config.json details beyond mm_config (include/minimax.h): the label names of a task head. */
#ifndef MM_CONFIG_H
#define MM_CONFIG_H
#include "minimax.h"

/* cfg->num_labels names in id order from path's id2label ("LABEL_i" where it has none): a NULL-terminated
 * malloc'd array of malloc'd strings. path must be the file cfg was parsed from. */
char **mm_config_labels(const char *path, const mm_config *cfg);
#endif
