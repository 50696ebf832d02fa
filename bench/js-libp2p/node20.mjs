// Promise.withResolvers is in Node 22 and later; libp2p 2.x calls it through its lock library
// (mortice -> it-queue). This defines it on Node 20 as the specification does.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve, reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
