/*
 * attsfix: an LD_PRELOAD shim that lets Kamailio 5.6's xmpp module parse
 * XML at all (bench/xmpp/kamailio/README.md).
 *
 * The module's expat start-element callbacks (xstream.c
 * _xode_put_expatattribs and its copies) walk the attribute array with
 * while (*(atts[i]) != '\0'), but expat ends that array with a NULL
 * pointer, not with a pointer to an empty string, so the first element
 * received (the XMPP server's <stream:stream>) dereferences NULL and the
 * XMPP process dies with SIGSEGV (kamailio/kamailio#4154).  This shim
 * wraps every start-element handler registered through
 * XML_SetElementHandler or XML_SetStartElementHandler and hands it a copy
 * of the attribute array that ends with "" and then NULL, which both
 * conventions accept.  Nothing else is changed.
 *
 *   gcc -shared -fPIC -O2 -o attsfix.so attsfix.c -ldl
 *   LD_PRELOAD=$PWD/attsfix.so kamailio ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <expat.h>
#include <stdlib.h>

#define SLOTS 8

static XML_StartElementHandler orig[SLOTS];
static const XML_Char empty[] = "";

static void call(int slot, void *ud, const XML_Char *name, const XML_Char **atts)
{
	int n = 0;
	while(atts && atts[n])
		n++;
	const XML_Char *a[n + 2];
	for(int i = 0; i < n; i++)
		a[i] = atts[i];
	a[n] = empty;
	a[n + 1] = NULL;
	orig[slot](ud, name, a);
}

#define TRAMPOLINE(k)                                                      \
	static void start##k(void *ud, const XML_Char *name, const XML_Char **atts) \
	{                                                                      \
		call(k, ud, name, atts);                                           \
	}
TRAMPOLINE(0)
TRAMPOLINE(1)
TRAMPOLINE(2)
TRAMPOLINE(3)
TRAMPOLINE(4)
TRAMPOLINE(5)
TRAMPOLINE(6)
TRAMPOLINE(7)
static const XML_StartElementHandler trampolines[SLOTS] = {
		start0, start1, start2, start3, start4, start5, start6, start7};

/* wrap returns the trampoline of handler h (one slot per distinct
 * handler; the XMPP process is single-threaded). */
static XML_StartElementHandler wrap(XML_StartElementHandler h)
{
	if(h == NULL)
		return NULL;
	for(int k = 0; k < SLOTS; k++) {
		if(orig[k] == h || trampolines[k] == h)
			return trampolines[k];
		if(orig[k] == NULL) {
			orig[k] = h;
			return trampolines[k];
		}
	}
	abort(); /* more distinct handlers than slots */
}

/* expat is the module's own dependency, loaded with it by dlopen, so
 * it is not in the global scope that RTLD_NEXT searches. */
static void *expat(const char *name)
{
	static void *lib;
	void *f;
	if(lib == NULL)
		lib = dlopen("libexpat.so.1", RTLD_NOW);
	if(lib == NULL || (f = dlsym(lib, name)) == NULL)
		abort();
	return f;
}

void XML_SetElementHandler(
		XML_Parser p, XML_StartElementHandler start, XML_EndElementHandler end)
{
	static void (*real)(XML_Parser, XML_StartElementHandler, XML_EndElementHandler);
	if(real == NULL)
		real = expat("XML_SetElementHandler");
	real(p, wrap(start), end);
}

void XML_SetStartElementHandler(XML_Parser p, XML_StartElementHandler start)
{
	static void (*real)(XML_Parser, XML_StartElementHandler);
	if(real == NULL)
		real = expat("XML_SetStartElementHandler");
	real(p, wrap(start));
}
