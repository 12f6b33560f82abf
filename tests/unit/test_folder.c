// Gallery folder scanning: seize_folder_scan (src/data/folder.c).
#include "check.h"

#include "seize/data.h"
#include "seize/index.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>

static void mk(const char *rel)
{
    mkdir(check_tmp(rel), 0755);
}
static void touch(const char *rel)
{
    check_write_text(check_tmp(rel), "x");
}
static void link_to(const char *target, const char *rel)
{
    if (symlink(target, check_tmp(rel)) != 0)
        fprintf(stderr, "symlink %s: %s\n", rel, strerror(errno));
}

static size_t count_kind(const seize_folder_list *l, seize_folder_issue_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_issues; i++)
        n += l->issues[i].kind == k;
    return n;
}

static const seize_folder_issue *find_issue(const seize_folder_list *l, const char *name)
{
    for (size_t i = 0; i < l->n_issues; i++)
        if (!strcmp(l->issues[i].name, name)) return &l->issues[i];
    return NULL;
}

// recursive, sorted, names are paths inside the folder, only image extensions (any case),
// hidden entries skipped, paths joined with the root as given
static void test_basic(void)
{
    mk("g1");
    mk("g1/sub");
    mk("g1/sub/deeper");
    mk("g1/.hidden");
    touch("g1/b.jpg");
    touch("g1/A.PNG");
    touch("g1/c.JpEg");
    touch("g1/notes.txt");
    touch("g1/.x.jpg");
    touch("g1/.hidden/y.jpg");
    touch("g1/sub/z.png");
    touch("g1/sub/deeper/w.jpg");
    seize_folder_list l;
    CHECK_EQ(seize_folder_scan(check_tmp("g1"), &l), 0);
    CHECK_EQ(l.n, 5);
    CHECK_EQ(l.n_errors, 0);
    CHECK_EQ(l.n_issues, 0);
    const char *want[] = {"A.PNG", "b.jpg", "c.JpEg", "sub/deeper/w.jpg", "sub/z.png"};
    for (size_t i = 0; i < 5; i++) {
        CHECK_STREQ(l.names[i], want[i]);
        char p[600];
        snprintf(p, sizeof p, "%s/%s", check_tmp("g1"), want[i]);
        CHECK_STREQ(l.paths[i], p);
    }
    CHECK(seize_folder_errors_message(&l, "g1", 5) == NULL);
    seize_folder_list_free(&l);
    // flat: root entries only
    CHECK_EQ(seize_folder_scan_ex(check_tmp("g1"), SEIZE_FOLDER_FLAT, &l), 0);
    CHECK_EQ(l.n, 3);
    seize_folder_list_free(&l);
    seize_folder_list_free(&l); // a freed (zeroed) list is accepted
}

// a link to '.' and to a parent do not multiply images; a second path to a folder or a file
// counts each file once, under the first name in sorted order
static void test_links(void)
{
    mk("g2");
    mk("g2/a");
    mk("g2/b");
    touch("g2/a/one.jpg");
    touch("g2/b/two.jpg");
    touch("g2/top.png");
    link_to(".", "g2/self");
    link_to("..", "g2/a/up");
    link_to("../b", "g2/a/zz_to_b");    // a/zz_to_b is scanned before b: b's folder is the repeat
    link_to("top.png", "g2/alias.png"); // alias.png < top.png: the alias is the kept name
    if (link(check_tmp("g2/b/two.jpg"), check_tmp("g2/b/two_hard.jpg")) != 0) CHECK(0);
    seize_folder_list l;
    CHECK_EQ(seize_folder_scan(check_tmp("g2"), &l), 0);
    CHECK_EQ(l.n_errors, 0);
    CHECK_EQ(l.n, 3);
    CHECK_STREQ(l.names[0], "a/one.jpg");
    CHECK_STREQ(l.names[1], "a/zz_to_b/two.jpg");
    CHECK_STREQ(l.names[2], "alias.png");
    // self, a/up and b: folders already entered
    CHECK_EQ(count_kind(&l, SEIZE_FOLDER_LOOP), 3);
    CHECK(find_issue(&l, "self") != NULL);
    CHECK(find_issue(&l, "a/up") != NULL);
    // top.png (same file as alias.png), a/zz_to_b/two_hard.jpg (hard link)
    CHECK_EQ(count_kind(&l, SEIZE_FOLDER_DUPLICATE), 2);
    const seize_folder_issue *d = find_issue(&l, "top.png");
    CHECK(d != NULL && strstr(d->reason, "alias.png"));
    seize_folder_list_free(&l);
}

// bad names (not UTF-8, control characters), FIFOs and dangling links are errors, named with
// escapes; nothing else is lost
static void test_bad_entries(void)
{
    mk("g3");
    mk("g3/d\xff");
    touch("g3/ok.jpg");
    touch("g3/r\xe9sum\xe9.jpg");
    touch("g3/line\nbreak.jpg");
    touch("g3/tab\there.png");
    touch("g3/d\xff/inner.jpg");
    touch("g3/caf\xc3\xa9.jpg");  // valid UTF-8
    touch("g3/r\xe9sum\xe9.txt"); // not an image: ignored
    CHECK_EQ(mkfifo(check_tmp("g3/pipe.jpg"), 0644), 0);
    link_to("/nonexistent/seize/x.jpg", "g3/dangling.jpg");
    seize_folder_list l;
    CHECK_EQ(seize_folder_scan(check_tmp("g3"), &l), 0);
    CHECK_EQ(l.n, 2);
    CHECK_STREQ(l.names[0], "caf\xc3\xa9.jpg");
    CHECK_STREQ(l.names[1], "ok.jpg");
    CHECK_EQ(l.n_errors, 6);
    CHECK_EQ(count_kind(&l, SEIZE_FOLDER_BAD_NAME), 4);
    CHECK_EQ(count_kind(&l, SEIZE_FOLDER_NOT_REGULAR), 1);
    CHECK_EQ(count_kind(&l, SEIZE_FOLDER_UNREADABLE), 1);
    const seize_folder_issue *i = find_issue(&l, "r\\xe9sum\\xe9.jpg");
    CHECK(i != NULL);
    CHECK(strstr(i->reason, "UTF-8") && strstr(i->reason, "rename"));
    CHECK(find_issue(&l, "line\\x0abreak.jpg") != NULL);
    CHECK(find_issue(&l, "tab\\x09here.png") != NULL);
    CHECK(find_issue(&l, "d\\xff/inner.jpg") != NULL);
    i = find_issue(&l, "pipe.jpg");
    CHECK(i != NULL && i->kind == SEIZE_FOLDER_NOT_REGULAR && strstr(i->reason, "FIFO"));
    i = find_issue(&l, "dangling.jpg");
    CHECK(i != NULL && i->kind == SEIZE_FOLDER_UNREADABLE);
    char *m = seize_folder_errors_message(&l, "g3", 2);
    CHECK(m != NULL);
    CHECK_MSG(strstr(m, "6 entries") && strstr(m, "... and 4 more"), "%s", m);
    CHECK(!strchr(m, '\t') && !strstr(m, "\xe9"));
    free(m);
    seize_folder_list_free(&l);
}

static void test_root_errors(void)
{
    seize_folder_list l;
    CHECK(seize_folder_scan(check_tmp("missing"), &l) == SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "missing"));
    seize_folder_list_free(&l);
    touch("plain.jpg");
    CHECK(seize_folder_scan(check_tmp("plain.jpg"), &l) == SEIZE_EIO);
    seize_folder_list_free(&l);
    mk("empty");
    CHECK_EQ(seize_folder_scan(check_tmp("empty"), &l), 0);
    CHECK_EQ(l.n, 0);
    seize_folder_list_free(&l);
}

static void test_name_checks(void)
{
    CHECK(seize_index_name_problem("a/b c.jpg", 9) == NULL);
    CHECK(seize_index_name_problem("caf\xc3\xa9", 5) == NULL);
    CHECK(seize_index_name_problem("", 0) != NULL);
    CHECK(strstr(seize_index_name_problem("r\xe9sum\xe9", 6), "UTF-8"));
    CHECK(strstr(seize_index_name_problem("a\nb", 3), "control"));
    CHECK(strstr(seize_index_name_problem("a\0b", 3), "control"));
    CHECK(strstr(seize_index_name_problem("a\x7f", 2), "control"));
    CHECK(strstr(seize_index_name_problem("a\xc2\x85", 3), "control")); // U+0085 NEL
    char *e = seize_index_name_escape("r\xe9s\tx\xc3\xa9", 7);
    CHECK_STREQ(e, "r\\xe9s\\x09x\xc3\xa9");
    free(e);
}

// The rule lives in data (seize/data.h); index's names are the same rule.
static void test_gallery_names(void)
{
    const char *names[] = {"a/b c.jpg", "caf\xc3\xa9", "",         "r\xe9sum\xe9",
                           "a\nb",      "a\x7f",       "a\xc2\x85"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t len = strlen(names[i]);
        CHECK(seize_gallery_name_problem(names[i], len) == seize_index_name_problem(names[i], len));
    }
    CHECK(seize_gallery_name_problem("caf\xc3\xa9", 5) == NULL);
    CHECK(strstr(seize_gallery_name_problem("a\tb", 3), "control"));
    CHECK(strstr(seize_gallery_name_problem("\xff", 1), "UTF-8"));
    CHECK(strstr(seize_gallery_name_problem(NULL, 0), "empty"));
    char *e = seize_gallery_name_shown("x\x01\xe9");
    CHECK_STREQ(e, "x\\x01\\xe9");
    free(e);
    e = seize_gallery_name_shown(NULL);
    CHECK_STREQ(e, "");
    free(e);
}

int main(void)
{
    if (check_tmp_init("folder") != 0) return 1;
    RUN(test_basic);
    RUN(test_links);
    RUN(test_bad_entries);
    RUN(test_root_errors);
    RUN(test_name_checks);
    RUN(test_gallery_names);
    check_tmp_cleanup();
    return check_summary("folder");
}
