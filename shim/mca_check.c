/* SPDX-License-Identifier: MIT */
/*
 * Where an Open MPI 4.x job takes its MCA parameters from, as far as
 * the pml and hook component lists and pml_encshim_enable go (docs/MPI.md,
 * "encshim mpirun"):
 *   command line   -mca/--mca/-gmca/--gmca KEY VALUE, -x OMPI_MCA_KEY=VALUE
 *   environment    OMPI_MCA_KEY=VALUE (mpirun forwards these to the ranks)
 *   files          $HOME/.openmpi/mca-params.conf, mca_base_param_files,
 *                  --am files (mca_base_param_file_prefix) and --tune files
 *                  (mca_base_envar_file_prefix): "key = value" lines, and
 *                  in --tune files also command-line options
 *   env lists      mca_base_env_list "NAME=VALUE;..."
 * Open MPI also takes each key with its project prefix (ompi_pml). Every
 * source is checked, whichever would win: a list that leaves encshim out
 * is refused even where another source overrides it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mca_check.h"

#define COMPONENT "encshim"
#define ENV_PREFIX "OMPI_MCA_"
/* Files naming files: a bound, not a limit anyone should meet. */
#define MAX_DEPTH 4

enum key {
	KEY_OTHER,
	KEY_PML,
	KEY_HOOK,
	KEY_ENABLE,      /* pml_encshim_enable: encshim mpirun sets it to 1 */
	KEY_PARAM_FILES, /* "key = value" files; a missing one is skipped */
	KEY_AM_FILES,    /* the same, named by --am: a missing one is refused */
	KEY_TUNE_FILES,  /* --tune: also command-line options */
	KEY_ENV_LIST,
};

struct scan {
	int depth;
	int refused;
	int names_hook;
};

static void scan_args(struct scan *s, int argc, char **argv, const char *origin);

static int item_is(const char *item, size_t len, const char *name)
{
	return len == strlen(name) && !memcmp(item, name, len);
}

/* An exclusion item is compared without surrounding spaces, an inclusion
 * item exactly: either way a doubtful spelling leaves encshim out. */
int mca_list_keeps(const char *list, const char *name)
{
	int exclude;

	if (!list || !*list)
		return 1;
	exclude = '^' == list[0];
	if (exclude)
		list++;
	if (strchr(list, '^'))
		return 0;
	for (const char *p = list;;) {
		size_t len = strcspn(p, ",");
		const char *q = p;
		size_t n = len;

		if (exclude) {
			while (n && (*q == ' ' || *q == '\t'))
				q++, n--;
			while (n && (q[n - 1] == ' ' || q[n - 1] == '\t'))
				n--;
		}
		if (item_is(q, n, name))
			return !exclude;
		if (!p[len])
			break;
		p += len + 1;
	}
	return exclude;
}

static enum key key_of(const char *k)
{
	/* Open MPI's long names carry the project: ompi_pml, opal_mca_... */
	if (!strncmp(k, "ompi_", 5) || !strncmp(k, "opal_", 5))
		k += 5;
	if (!strcmp(k, "pml"))
		return KEY_PML;
	if (!strcmp(k, "hook"))
		return KEY_HOOK;
	if (!strcmp(k, "pml_encshim_enable"))
		return KEY_ENABLE;
	if (!strcmp(k, "mca_base_param_files") || !strcmp(k, "mca_param_files") ||
	    !strcmp(k, "mca_base_override_param_file"))
		return KEY_PARAM_FILES;
	if (!strcmp(k, "mca_base_param_file_prefix"))
		return KEY_AM_FILES;
	if (!strcmp(k, "mca_base_envar_file_prefix"))
		return KEY_TUNE_FILES;
	if (!strcmp(k, "mca_base_env_list"))
		return KEY_ENV_LIST;
	return KEY_OTHER;
}

static void refuse_list(struct scan *s, const char *shown, const char *origin,
			enum key k, const char *value)
{
	const char *fw = KEY_PML == k ? "pml" : "hook";

	s->refused = 1;
	fprintf(stderr, "encshim mpirun: '%s' (%s) keeps the encshim plugin from "
		"loading: the job would run unencrypted or without the check that "
		"stops it. ", shown, origin);
	if ('^' == value[0] && !strchr(value + 1, '^'))
		fprintf(stderr, "Take encshim out of the '^' list.\n");
	else if (strchr(value, '^'))
		fprintf(stderr, "A '^' goes only first, before the whole list.\n");
	else
		fprintf(stderr, "Drop the %s setting%s, or add encshim to it: "
			"'%s,%s'.\n", fw, KEY_PML == k ? " (encshim wraps "
			"whichever PML Open MPI picks)" : "", value, COMPONENT);
}

static void refuse_file(struct scan *s, const char *what, const char *path,
			const char *why)
{
	s->refused = 1;
	fprintf(stderr, "encshim mpirun: cannot check %s '%s' for pml and hook "
		"settings: %s. Give the file's path, readable.\n", what, path, why);
}

static void scan_file(struct scan *s, const char *path, enum key kind);

/* Each comma-separated file of `list`. */
static void scan_files(struct scan *s, const char *list, enum key kind)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy) {
		refuse_file(s, "parameter files", list, strerror(ENOMEM));
		return;
	}
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save))
		scan_file(s, f, kind);
	free(copy);
}

static void check_param(struct scan *s, const char *key, const char *value,
			const char *shown, const char *origin);

/* OMPI_MCA_KEY=VALUE: 1 with KEY copied out, else 0. */
static int env_param(const char *nv, char key[256], const char **value)
{
	const char *k, *eq;
	size_t len;

	if (strncmp(nv, ENV_PREFIX, strlen(ENV_PREFIX)))
		return 0;
	k = nv + strlen(ENV_PREFIX);
	eq = strchr(k, '=');
	if (!eq || (len = (size_t)(eq - k)) >= 256)
		return 0;
	memcpy(key, k, len);
	key[len] = '\0';
	*value = eq + 1;
	return 1;
}

/* "NAME=VALUE;NAME=VALUE": ';' is the default delimiter; ',' is split
 * too, which can only cut a list short and so refuse more. */
static void scan_env_list(struct scan *s, const char *list, const char *origin)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy) {
		refuse_file(s, "mca_base_env_list", list, strerror(ENOMEM));
		return;
	}
	for (char *e = strtok_r(copy, ";,", &save); e; e = strtok_r(NULL, ";,", &save)) {
		const char *value;
		char key[256], shown[512];

		if (env_param(e, key, &value)) {
			snprintf(shown, sizeof(shown), "mca_base_env_list %s", e);
			check_param(s, key, value, shown, origin);
		}
	}
	free(copy);
}

static void check_param(struct scan *s, const char *key, const char *value,
			const char *shown, const char *origin)
{
	enum key k = key_of(key);

	switch (k) {
	case KEY_PML:
	case KEY_HOOK:
		if (!mca_list_keeps(value, COMPONENT))
			refuse_list(s, shown, origin, k, value);
		break;
	case KEY_ENABLE:
		/* -x OMPI_MCA_pml_encshim_enable=0 reaches the ranks past the
		 * command line's 1 and turns the wrapper off */
		if (strcmp(value, "1") && strcmp(value, "true")) {
			s->refused = 1;
			fprintf(stderr, "encshim mpirun: '%s' (%s) turns encryption "
				"off: the job would run unencrypted. Drop it "
				"(encshim mpirun sets pml_encshim_enable to 1).\n",
				shown, origin);
		}
		break;
	case KEY_PARAM_FILES:
	case KEY_AM_FILES:
	case KEY_TUNE_FILES:
		scan_files(s, value, k);
		break;
	case KEY_ENV_LIST:
		scan_env_list(s, value, origin);
		break;
	case KEY_OTHER:
		break;
	}
}

static char *trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return p;
}

/* A --tune line of options: split at blanks, scanned as the command line. */
static void scan_option_line(struct scan *s, char *line, const char *origin)
{
	char *argv[64], *save = NULL;
	int argc = 0;

	for (char *t = strtok_r(line, " \t", &save); t && argc < 64;
	     t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	if (64 == argc) {
		s->refused = 1;
		fprintf(stderr, "encshim mpirun: %s: more than 63 options on one "
			"line; split the line\n", origin);
		return;
	}
	scan_args(s, argc, argv, origin);
}

static void scan_line(struct scan *s, char *line, const char *origin, enum key kind)
{
	char *eq, *key, *value, shown[512];

	line = trim(line);
	if (!*line || '#' == *line)
		return;
	if (KEY_TUNE_FILES == kind && '-' == *line) {
		scan_option_line(s, line, origin);
		return;
	}
	eq = strchr(line, '=');
	if (!eq)
		return;
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	snprintf(shown, sizeof(shown), "%s = %s", key, value);
	check_param(s, key, value, shown, origin);
}

static void scan_file(struct scan *s, const char *path, enum key kind)
{
	const char *what = KEY_TUNE_FILES == kind ? "--tune file"
			   : KEY_AM_FILES == kind ? "--am file" : "parameter file";
	char *line = NULL, origin[4200];
	size_t cap = 0;
	unsigned n = 0;
	FILE *f;

	if (s->depth >= MAX_DEPTH) {
		refuse_file(s, what, path, "parameter files nest too deeply");
		return;
	}
	f = fopen(path, "r");
	if (!f) {
		/* Open MPI skips a missing parameter file; --am and --tune
		 * name files it would read, so one we cannot read is refused */
		if (KEY_PARAM_FILES != kind || ENOENT != errno)
			refuse_file(s, what, path, strerror(errno));
		return;
	}
	s->depth++;
	while (getline(&line, &cap, f) >= 0) {
		snprintf(origin, sizeof(origin), "%s %s:%u", what, path, ++n);
		scan_line(s, line, origin, kind);
	}
	s->depth--;
	free(line);
	fclose(f);
}

static int is_mca_option(const char *a)
{
	return !strcmp(a, "-mca") || !strcmp(a, "--mca") ||
	       !strcmp(a, "-gmca") || !strcmp(a, "--gmca");
}

/* Options are looked for among all arguments, the program's too: an
 * option of the program that looks like mpirun's can only refuse more. */
static void scan_args(struct scan *s, int argc, char **argv, const char *origin)
{
	char shown[512];

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (is_mca_option(a) && i + 2 < argc) {
			snprintf(shown, sizeof(shown), "%s %s %s", a, argv[i + 1],
				 argv[i + 2]);
			if (KEY_HOOK == key_of(argv[i + 1]) && 0 == s->depth)
				s->names_hook = 1;
			check_param(s, argv[i + 1], argv[i + 2], shown, origin);
			i += 2;
		} else if (!strcmp(a, "-x") && i + 1 < argc) {
			const char *v = argv[++i], *value;
			char key[256];

			/* -x NAME alone forwards the environment's value */
			if (!env_param(v, key, &value))
				continue;
			snprintf(shown, sizeof(shown), "-x %s", v);
			check_param(s, key, value, shown, origin);
		} else if ((!strcmp(a, "--tune") || !strcmp(a, "-tune")) && i + 1 < argc) {
			scan_files(s, argv[++i], KEY_TUNE_FILES);
		} else if ((!strcmp(a, "--am") || !strcmp(a, "-am")) && i + 1 < argc) {
			scan_files(s, argv[++i], KEY_AM_FILES);
		}
	}
}

static void scan_environment(struct scan *s)
{
	extern char **environ;
	const char *value;
	char key[256];

	for (char **e = environ; *e; e++)
		if (env_param(*e, key, &value))
			check_param(s, key, value, *e, "environment");
}

int mca_check_job(int argc, char **argv, int *names_hook)
{
	struct scan s = { 0, 0, 0 };
	const char *home = getenv("HOME");

	scan_args(&s, argc, argv, "command line");
	scan_environment(&s);
	if (home && *home) {
		char path[4096];

		if (snprintf(path, sizeof(path), "%s/.openmpi/mca-params.conf",
			     home) < (int)sizeof(path))
			scan_file(&s, path, KEY_PARAM_FILES);
	}
	*names_hook = s.names_hook;
	return s.refused ? -1 : 0;
}
