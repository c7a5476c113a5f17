/* placeholder, replaced below */
const char mm_web_index_html[] = "<!doctype html><title>minimax</title>";
