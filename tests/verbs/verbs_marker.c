/* SPDX-License-Identifier: MIT */
/*
 * Wire-proof program for the verbs preload (soft-RoCE guest suite): an RC
 * connection made with librdmacm, over which the client sends COUNT
 * SEND_WITH_IMM messages (immediate = message index) and the server answers
 * with one SEND. Every payload is the ASCII marker repeated, so a capture
 * shows the marker wherever data crosses the wire in clear. Each side
 * checks every byte, length and immediate it receives; exit 0 only if all
 * matched.
 *
 *   verbs_marker -l ADDR    server, listening on ADDR
 *   verbs_marker ADDR       client
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#define MARKER "ENCSHIM-VERBS-MARKER-8f14e45fceea167a"
#define PORT "18515"
#define COUNT 20
#define SIZE 4096

static uint8_t buf[COUNT + 1][SIZE]; /* slots 0..COUNT-1: data, COUNT: reply */

static void fill_marker(uint8_t *b)
{
	for (size_t i = 0; i < SIZE; i++)
		b[i] = (uint8_t)MARKER[i % (sizeof(MARKER) - 1)];
}

static int is_marker(const uint8_t *b)
{
	for (size_t i = 0; i < SIZE; i++)
		if (b[i] != (uint8_t)MARKER[i % (sizeof(MARKER) - 1)])
			return 0;
	return 1;
}

/* Waits for one receive and checks it landed in slot wr_id intact. */
static int recv_checked(struct rdma_cm_id *id, int want_imm, uint32_t imm)
{
	struct ibv_wc wc;

	memset(&wc, 0, sizeof(wc));
	if (rdma_get_recv_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "verbs_marker: receive failed (status %d)\n",
			(int)wc.status);
		return -1;
	}
	if (wc.wr_id > COUNT || wc.byte_len != SIZE || !is_marker(buf[wc.wr_id])) {
		fprintf(stderr, "verbs_marker: slot %llu: %u bytes, not the marker\n",
			(unsigned long long)wc.wr_id, wc.byte_len);
		return -1;
	}
	if (want_imm && (!(wc.wc_flags & IBV_WC_WITH_IMM) ||
			 ntohl(wc.imm_data) != imm)) {
		fprintf(stderr, "verbs_marker: message %u: wrong immediate\n", imm);
		return -1;
	}
	return 0;
}

static int send_slot(struct rdma_cm_id *id, struct ibv_mr *mr, int slot,
		     int with_imm)
{
	struct ibv_sge sge = { (uintptr_t)buf[slot], SIZE, mr->lkey };
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = (uint64_t)slot;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = with_imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND;
	wr.imm_data = htonl((uint32_t)slot);
	wr.send_flags = IBV_SEND_SIGNALED;
	fill_marker(buf[slot]);
	if (ibv_post_send(id->qp, &wr, &bad) ||
	    rdma_get_send_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS ||
	    wc.wr_id != (uint64_t)slot) {
		fprintf(stderr, "verbs_marker: send %d failed\n", slot);
		return -1;
	}
	return 0;
}

static int server(struct rdma_cm_id *listen_id)
{
	struct rdma_cm_id *id;
	struct ibv_mr *mr;
	int i;

	if (rdma_listen(listen_id, 1) || rdma_get_request(listen_id, &id)) {
		perror("verbs_marker: listen");
		return -1;
	}
	mr = rdma_reg_msgs(id, buf, sizeof(buf));
	for (i = 0; mr && i < COUNT; i++)
		if (rdma_post_recv(id, (void *)(uintptr_t)i, buf[i], SIZE, mr))
			break;
	if (!mr || i < COUNT || rdma_accept(id, NULL)) {
		perror("verbs_marker: accept");
		return -1;
	}
	for (i = 0; i < COUNT; i++)
		if (recv_checked(id, 1, (uint32_t)i))
			return -1;
	if (send_slot(id, mr, COUNT, 0))
		return -1;
	printf("verbs_marker: server ok, %d messages checked\n", COUNT);
	rdma_disconnect(id);
	rdma_dereg_mr(mr);
	rdma_destroy_ep(id);
	return 0;
}

static int client(struct rdma_cm_id *id)
{
	struct ibv_mr *mr = rdma_reg_msgs(id, buf, sizeof(buf));

	if (!mr || rdma_post_recv(id, (void *)(uintptr_t)COUNT, buf[COUNT],
				  SIZE, mr) ||
	    rdma_connect(id, NULL)) {
		perror("verbs_marker: connect");
		return -1;
	}
	for (int i = 0; i < COUNT; i++)
		if (send_slot(id, mr, i, 1))
			return -1;
	if (recv_checked(id, 0, 0))
		return -1;
	printf("verbs_marker: client ok, reply checked\n");
	rdma_disconnect(id);
	rdma_dereg_mr(mr);
	return 0;
}

int main(int argc, char **argv)
{
	struct rdma_addrinfo hints, *res;
	struct ibv_qp_init_attr attr;
	struct rdma_cm_id *id;
	int is_server = argc == 3 && !strcmp(argv[1], "-l"), rc;

	if (argc != 2 && !is_server) {
		fprintf(stderr, "usage: verbs_marker -l ADDR | verbs_marker ADDR\n");
		return 2;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_port_space = RDMA_PS_TCP;
	hints.ai_flags = is_server ? RAI_PASSIVE : 0;
	if (rdma_getaddrinfo(argv[argc - 1], PORT, &hints, &res)) {
		perror("verbs_marker: rdma_getaddrinfo");
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.cap.max_send_wr = attr.cap.max_recv_wr = COUNT + 1;
	attr.cap.max_send_sge = attr.cap.max_recv_sge = 1;
	attr.qp_type = IBV_QPT_RC;
	if (rdma_create_ep(&id, res, NULL, &attr)) {
		perror("verbs_marker: rdma_create_ep");
		return 1;
	}
	rdma_freeaddrinfo(res);
	rc = is_server ? server(id) : client(id);
	rdma_destroy_ep(id);
	return rc ? 1 : 0;
}
