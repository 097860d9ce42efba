/*
 * getent for the local cluster's musl stand-in image (localcluster.images.MUSL): the host lookups an
 * Alpine image's musl-utils getent offers, with the same arguments and output, compiled here with
 * Debian's musl-tools (musl-gcc) at image-build time, so that every lookup goes through musl's
 * resolver (getaddrinfo, gethostbyname2) and /etc/resolv.conf, as in an Alpine-based pod.
 *
 *   getent ahosts   NAME...   getaddrinfo(AF_UNSPEC, AI_ADDRCONFIG | AI_CANONNAME)
 *   getent ahostsv4 NAME...   getaddrinfo(AF_INET,   AI_ADDRCONFIG | AI_CANONNAME)
 *   getent ahostsv6 NAME...   getaddrinfo(AF_INET6,  AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED)
 *   getent hosts    NAME...   gethostbyname2(AF_INET6), then AF_INET
 *
 * One line per result: "<address> <socket type> <canonical name>" (ahosts*) or
 * "<address> <name> <aliases>" (hosts). Exit status 0 when every name was found, 2 when one was
 * not (the remaining names are not looked up), 1 on a usage error: as musl-utils' getent.
 *
 * Written for headless-dns-conformance; no other database (passwd, group, ...) is offered.
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

enum { EXIT_FOUND = 0, EXIT_USAGE = 1, EXIT_NOT_FOUND = 2 };

static const char *socktype_name(int type, char *buf, size_t len)
{
	switch (type) {
	case SOCK_STREAM:
		return "STREAM";
	case SOCK_DGRAM:
		return "DGRAM";
	case SOCK_RAW:
		return "RAW";
	default:
		snprintf(buf, len, "%d", type);
		return buf;
	}
}

static int print_addr(int family, const struct sockaddr *sa, char *out, size_t len)
{
	const void *addr;

	if (family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return 0;
	return inet_ntop(family, addr, out, (socklen_t)len) != NULL;
}

static int ahosts(int family, int flags, int count, char **names)
{
	struct addrinfo hints, *res, *r;
	char addr[INET6_ADDRSTRLEN], typebuf[16];
	int i;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_flags = AI_ADDRCONFIG | AI_CANONNAME | flags;
	for (i = 0; i < count; i++) {
		if (getaddrinfo(names[i], NULL, &hints, &res) != 0)
			return EXIT_NOT_FOUND;
		for (r = res; r != NULL; r = r->ai_next) {
			if (!print_addr(r->ai_family, r->ai_addr, addr, sizeof addr))
				continue;
			printf("%-15s %-6s %s\n", addr, socktype_name(r->ai_socktype, typebuf, sizeof typebuf),
			       r->ai_canonname ? r->ai_canonname : "");
		}
		freeaddrinfo(res);
	}
	return EXIT_FOUND;
}

static int hosts(int count, char **names)
{
	struct hostent *he;
	char addr[INET6_ADDRSTRLEN];
	char **alias;
	int i;

	for (i = 0; i < count; i++) {
		he = gethostbyname2(names[i], AF_INET6);
		if (he == NULL)
			he = gethostbyname2(names[i], AF_INET);
		if (he == NULL || he->h_addr_list[0] == NULL)
			return EXIT_NOT_FOUND;
		if (inet_ntop(he->h_addrtype, he->h_addr_list[0], addr, sizeof addr) == NULL)
			return EXIT_NOT_FOUND;
		printf("%-16s  %s", addr, he->h_name);
		for (alias = he->h_aliases; alias != NULL && *alias != NULL; alias++)
			printf(" %s", *alias);
		printf("\n");
	}
	return EXIT_FOUND;
}

int main(int argc, char **argv)
{
	const char *db = argc > 1 ? argv[1] : "";
	int rc;

	if (argc < 3) {
		fprintf(stderr, "Usage: %s ahosts|ahostsv4|ahostsv6|hosts NAME...\n", argv[0]);
		return EXIT_USAGE;
	}
	if (strcmp(db, "ahosts") == 0)
		rc = ahosts(AF_UNSPEC, 0, argc - 2, argv + 2);
	else if (strcmp(db, "ahostsv4") == 0)
		rc = ahosts(AF_INET, 0, argc - 2, argv + 2);
	else if (strcmp(db, "ahostsv6") == 0)
		rc = ahosts(AF_INET6, AI_V4MAPPED, argc - 2, argv + 2);
	else if (strcmp(db, "hosts") == 0)
		rc = hosts(argc - 2, argv + 2);
	else {
		fprintf(stderr, "%s: unknown database '%s' (this getent offers ahosts, ahostsv4, ahostsv6, hosts)\n",
			argv[0], db);
		return EXIT_USAGE;
	}
	fflush(stdout);
	return rc;
}
