/*
 * roi: one readiness reactor over epoll, poll and IOCP/AFD.
 *
 * Include this header to get every public roi header.
 */
#ifndef ROI_ROI_H
#define ROI_ROI_H

#include "roi/engine.h"
#include "roi/error.h"
#include "roi/message.h"
#include "roi/poller.h"
#include "roi/sock.h"
#include "roi/version.h"

#endif /* ROI_ROI_H */
